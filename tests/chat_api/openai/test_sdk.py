"""/v1/chat/completions and /v1/models driven by the official `openai` SDK, unmodified, on the real stack."""

from __future__ import annotations

import openai
import pytest

from tests.chat_api.chat_helpers import ANTHROPIC_MODEL, MISTRAL_MODEL, OPENAI_MODEL, completion
from tests.support.chat_api import ChatApiStack, User
from tests.support.router import PLATFORM_KEYS


def sdk(stack: ChatApiStack, user: User) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=stack.base_url + "/v1", api_key=user.token, max_retries=0)


async def test_the_sdk_completes_without_streaming_and_the_headers_name_the_access(
    stack: ChatApiStack,
) -> None:
    user = await stack.register()
    async with sdk(stack, user) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=ANTHROPIC_MODEL,
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hello sdk"}]},
            ],
            temperature=0.2,
            max_completion_tokens=50,
            stop=["never"],
            seed=7,
            user="end-user-1",
        )
    assert raw.headers["x-switchyard-provider"] == "anthropic"
    assert raw.headers["x-switchyard-model"] == ANTHROPIC_MODEL
    assert raw.headers["x-switchyard-key-source"] == "platform"
    answer = raw.parse()
    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-")
    assert answer.model == ANTHROPIC_MODEL
    choice = answer.choices[0]
    assert (choice.message.role, choice.message.content) == ("assistant", "echo: hello sdk")
    assert choice.finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0
    sent = stack.sim.calls_for("anthropic")[-1]
    assert sent.api_key == PLATFORM_KEYS["anthropic"]
    assert sent.json_body["temperature"] == 0.2


async def test_the_sdk_streams_with_usage(stack: ChatApiStack) -> None:
    user = await stack.register()
    async with sdk(stack, user) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=ANTHROPIC_MODEL,
            messages=[{"role": "user", "content": "stream me please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        assert raw.headers["x-switchyard-key-source"] == "platform"
        chunks = [chunk async for chunk in raw.parse()]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me please"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert {c.id for c in chunks} == {chunks[0].id}


async def test_streaming_without_include_usage_sends_no_usage_chunk(stack: ChatApiStack) -> None:
    user = await stack.register()
    async with sdk(stack, user) as client:
        stream = await client.chat.completions.create(
            model=ANTHROPIC_MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_models_lists_auto_first_and_the_catalog(stack: ChatApiStack) -> None:
    user = await stack.register()
    async with sdk(stack, user) as client:
        models = [model async for model in client.models.list()]
    ids = [model.id for model in models]
    assert ids[0] == "auto"
    assert {OPENAI_MODEL, ANTHROPIC_MODEL, MISTRAL_MODEL} <= set(ids)
    assert all(model.object == "model" for model in models)
    assert next(m for m in models if m.id == OPENAI_MODEL).owned_by == "openai"


async def test_errors_use_openai_shape_and_sdk_exceptions(stack: ChatApiStack) -> None:
    user = await stack.register()
    async with sdk(stack, user) as client:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await client.chat.completions.create(
                model=MISTRAL_MODEL, messages=[{"role": "user", "content": "x"}]
            )
        assert denied.value.code == "no_access"
        with pytest.raises(openai.NotFoundError) as unknown:
            await client.chat.completions.create(
                model="openai/not-a-model", messages=[{"role": "user", "content": "x"}]
            )
        assert unknown.value.code == "unknown_model"
        with pytest.raises(openai.BadRequestError) as many:
            await client.chat.completions.create(
                model=ANTHROPIC_MODEL, messages=[{"role": "user", "content": "x"}], n=2
            )
        assert "n=1" in many.value.message
    async with openai.AsyncOpenAI(base_url=stack.base_url + "/v1", api_key="wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as unauthorized:
            await bad.models.list()
        assert unauthorized.value.code == "invalid_api_key"

    invalid = await stack.http.post(
        "/v1/chat/completions",
        json={"model": ANTHROPIC_MODEL, "messages": [{"role": "tool", "content": "x"}]},
        headers=user.headers,
    )
    assert invalid.status_code == 400
    error = invalid.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"].startswith("messages.0")


async def test_unknown_fields_are_ignored(stack: ChatApiStack) -> None:
    user = await stack.register()
    response = await completion(stack, user, ANTHROPIC_MODEL, logit_bias={"1": 2}, frequency_penalty=0.1)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["logprobs"] is None
    assert response.json()["choices"][0]["message"]["refusal"] is None


async def test_provider_rate_limit_is_429_with_retry_after(stack: ChatApiStack) -> None:
    user = await stack.register()
    stack.sim.fail_next("anthropic", 429, retry_after="7")
    limited = await completion(stack, user, ANTHROPIC_MODEL)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.json()["error"]["code"] == "provider_rate_limited"
    assert limited.json()["error"]["type"] == "rate_limit_error"

    stack.sim.fail_next("anthropic", 429, retry_after="3")
    async with sdk(stack, user) as client:
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(
                model=ANTHROPIC_MODEL, messages=[{"role": "user", "content": "x"}]
            )
    assert raised.value.response.headers["retry-after"] == "3"


async def test_a_stream_breaking_midway_ends_with_an_error_chunk(stack: ChatApiStack) -> None:
    user = await stack.register()
    stack.sim.fail_next("anthropic", truncate_after_events=4)
    async with sdk(stack, user) as client:
        stream = await client.chat.completions.create(
            model=ANTHROPIC_MODEL,
            messages=[{"role": "user", "content": "one two three four five six"}],
            stream=True,
        )
        with pytest.raises(openai.APIError) as broken:
            async for _chunk in stream:
                pass
    assert broken.value.code == "provider_unavailable"
    raw = await completion(stack, user, ANTHROPIC_MODEL, stream=True)
    assert raw.text.endswith("data: [DONE]\n\n")


async def test_image_parts_reach_the_provider_and_bad_ones_are_400(stack: ChatApiStack) -> None:
    user = await stack.register()
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
    ]
    body = {
        "model": ANTHROPIC_MODEL,
        "messages": [{"role": "developer", "content": "terse"}, {"role": "user", "content": parts}],
    }
    answer = await stack.http.post("/v1/chat/completions", json=body, headers=user.headers)
    assert answer.status_code == 200, answer.text
    sent = stack.sim.calls_for("anthropic")[-1].json_body
    blocks = sent["messages"][-1]["content"]
    assert any(block.get("type") == "image" for block in blocks)
    assert sent.get("system")

    parts[1] = {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not-base64@@"}}
    bad = await stack.http.post("/v1/chat/completions", json=body, headers=user.headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"


async def test_models_say_which_providers_have_platform_access(stack: ChatApiStack) -> None:
    user = await stack.register()
    response = await stack.http.get("/v1/models", headers=user.headers)
    assert response.status_code == 200
    models = response.json()["data"][1:]
    assert {m["owned_by"] for m in models if m["platform_access"]} == set(PLATFORM_KEYS)
    assert all(isinstance(m["platform_access"], bool) for m in models)
    assert "platform_access" not in response.json()["data"][0]  # "auto" is not a provider's model
