"""The provider simulator does not drift from reality: the official SDKs parse what it sends.

Every reply is driven through the official ``openai``, ``anthropic`` and ``google-genai`` clients,
which parse it into their own types; raw bodies are also validated against those types with no
field the SDK does not know. Error bodies must raise the SDKs' typed exceptions. Fault knobs are
checked with plain httpx.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import openai
import pydantic
import pytest
import pytest_asyncio
from anthropic.types import ErrorResponse, Message, ModelInfo, RawMessageStreamEvent
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.shared import ErrorObject

from switchyard_dev.provider_sim import (
    OPENAI_COMPATIBLE,
    PROVIDERS,
    ProviderSimulator,
    count_tokens,
    reply_text,
    tokens_of,
)
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.asyncio(loop_scope="module")

OPENAI_MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-6"
GEMINI = "gemini-2.5-flash"
PROMPT = "the quick brown fox"
EXPECTED = "echo: the quick brown fox"
KEY = "sk-sim-test-0123456789abcdef"


# --- fixtures ------------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[ProviderSimulator]:
    async with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh(sim: ProviderSimulator) -> None:
    sim.reset()


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def openai_client(sim: ProviderSimulator, provider: str = "openai", key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sim.base_url(provider), api_key=key, max_retries=0, timeout=5)


def anthropic_client(sim: ProviderSimulator, key: str = KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=sim.base_url("anthropic"), api_key=key, max_retries=0, timeout=5)


def google_client(sim: ProviderSimulator, key: str = KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=genai_types.HttpOptions(base_url=sim.base_url("google")))


# --- helpers -------------------------------------------------------------------------------------


def assert_known_fields(value: object, where: str = "$") -> None:
    """No field anywhere in `value` that the SDK's model does not declare (the SDKs allow extras)."""
    if isinstance(value, pydantic.BaseModel):
        extra = value.model_extra or {}
        assert not extra, f"{where}: fields unknown to the SDK: {sorted(extra)}"
        for name in type(value).model_fields:
            assert_known_fields(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_known_fields(item, f"{where}[{i}]")


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each server-sent event."""
    events: list[tuple[str | None, str]] = []
    for block in re.split(r"\r?\n\r?\n", text):
        if not block.strip():
            continue
        name: str | None = None
        data: list[str] = []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").lstrip())
        events.append((name, "\n".join(data)))
    return events


def chat_body(prompt: str = PROMPT, **extra: Any) -> dict[str, Any]:
    return {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": prompt}], **extra}


def claude_body(prompt: str = PROMPT, **extra: Any) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 256, "messages": [{"role": "user", "content": prompt}], **extra}


def gemini_body(prompt: str = PROMPT) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}


def bearer(key: str = KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


ANTHROPIC_HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
GOOGLE_HEADERS = {"x-goog-api-key": KEY}


def generate_request(
    sim: ProviderSimulator, provider: str, *, stream: bool
) -> tuple[str, dict[str, str], Any]:
    """URL, headers and JSON body of a generation request to `provider`, as a router would send it."""
    if provider == "anthropic":
        return f"{sim.base_url(provider)}/v1/messages", ANTHROPIC_HEADERS, claude_body(stream=stream)
    if provider == "google":
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{sim.base_url(provider)}/v1beta/models/{GEMINI}:{action}", GOOGLE_HEADERS, gemini_body()
    body = chat_body(stream=True, stream_options={"include_usage": True}) if stream else chat_body()
    return f"{sim.base_url(provider)}/chat/completions", bearer(), body


# --- the deterministic model ---------------------------------------------------------------------


async def test_replies_are_derived_from_the_prompt() -> None:
    assert reply_text(PROMPT) == EXPECTED
    assert tokens_of(EXPECTED) == ["echo:", " the", " quick", " brown", " fox"]
    assert count_tokens(PROMPT) == 4


async def test_base_urls_and_router_env(sim: ProviderSimulator) -> None:
    root = f"http://127.0.0.1:{sim.port}"
    for provider in OPENAI_COMPATIBLE:
        assert sim.base_url(provider) == f"{root}/{provider}/v1"
    assert sim.base_url("anthropic") == f"{root}/anthropic"
    assert sim.base_url("google") == f"{root}/google"
    env = sim.router_env()
    assert set(env) == {f"ROUTER_{provider.upper()}_BASE_URL" for provider in PROVIDERS}
    assert env["ROUTER_OPENAI_BASE_URL"] == sim.base_url("openai")
    with pytest.raises(ValueError, match="unknown provider"):
        sim.base_url("cohere")


# --- OpenAI and the OpenAI-compatible providers, through the openai SDK ----------------------------


async def test_openai_chat_completion(sim: ProviderSimulator) -> None:
    client = openai_client(sim)
    try:
        completion = await client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": PROMPT}],
        )
    finally:
        await client.close()
    assert isinstance(completion, ChatCompletion)
    assert completion.object == "chat.completion"
    assert completion.model == OPENAI_MODEL
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == EXPECTED
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (6, 5)
    assert completion.usage.total_tokens == 11


async def test_openai_raw_bodies_validate_strictly(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    base = sim.base_url("openai")
    plain = await http.post(f"{base}/chat/completions", headers=bearer(), json=chat_body())
    assert plain.headers["content-type"].startswith("application/json")
    assert_known_fields(ChatCompletion.model_validate(plain.json()))

    streamed = await http.post(
        f"{base}/chat/completions",
        headers=bearer(),
        json=chat_body(stream=True, stream_options={"include_usage": True}),
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = sse_events(streamed.text)
    assert events[-1] == (None, "[DONE]")
    for _, data in events[:-1]:
        assert_known_fields(ChatCompletionChunk.model_validate_json(data))

    listing = await http.get(f"{base}/models", headers=bearer())
    assert listing.json()["object"] == "list"
    for entry in listing.json()["data"]:
        assert_known_fields(Model.model_validate(entry))


async def test_openai_stream_with_usage(sim: ProviderSimulator) -> None:
    client = openai_client(sim)
    try:
        stream = await client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()
    assert all(isinstance(chunk, ChatCompletionChunk) for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [chunk.choices[0].delta.content for chunk in chunks[1:-2]]
    assert deltas == tokens_of(EXPECTED)
    assert "".join(d or "" for d in deltas) == EXPECTED
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (4, 5)


async def test_openai_stream_without_usage(sim: ProviderSimulator) -> None:
    client = openai_client(sim)
    try:
        stream = await client.chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == EXPECTED


async def test_openai_max_tokens_and_stop(sim: ProviderSimulator) -> None:
    client = openai_client(sim)
    try:
        cut = await client.chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": PROMPT}], max_completion_tokens=2
        )
        legacy = await client.chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=3
        )
        stopped = await client.chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": PROMPT}], stop=["brown"]
        )
    finally:
        await client.close()
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("echo: the", "length")
    assert cut.usage is not None
    assert cut.usage.completion_tokens == 2
    assert (legacy.choices[0].message.content, legacy.choices[0].finish_reason) == (
        "echo: the quick",
        "length",
    )
    assert (stopped.choices[0].message.content, stopped.choices[0].finish_reason) == (
        "echo: the quick",
        "stop",
    )


async def test_openai_models_list(sim: ProviderSimulator) -> None:
    client = openai_client(sim)
    try:
        models = [model async for model in client.models.list()]
        sim.set_models("openai", ["gpt-test"])
        custom = [model.id async for model in client.models.list()]
        one = await client.models.retrieve("gpt-test")
    finally:
        await client.close()
    assert all(isinstance(model, Model) for model in models)
    assert OPENAI_MODEL in {model.id for model in models}
    assert custom == ["gpt-test"]
    assert one.id == "gpt-test"


@pytest.mark.parametrize("provider", OPENAI_COMPATIBLE)
async def test_openai_sdk_against_every_compatible_provider(sim: ProviderSimulator, provider: str) -> None:
    client = openai_client(sim, provider)
    try:
        completion = await client.chat.completions.create(
            model="some-model", messages=[{"role": "user", "content": PROMPT}]
        )
        stream = await client.chat.completions.create(
            model="some-model",
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        models = [model.id async for model in client.models.list()]
    finally:
        await client.close()
    assert completion.choices[0].message.content == EXPECTED
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == EXPECTED
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert models == list(sim.models(provider))
    assert [call.path for call in sim.calls_for(provider)] == ["/v1/chat/completions"] * 2 + ["/v1/models"]
    assert sim.keys_seen(provider) == {KEY}


async def test_openai_authentication_error(sim: ProviderSimulator) -> None:
    sim.set_valid_keys("openai", {"sk-the-good-one"})
    client = openai_client(sim, key=KEY)
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(
                model=OPENAI_MODEL, messages=[{"role": "user", "content": "x"}]
            )
    finally:
        await client.close()
    error = caught.value
    assert error.status_code == 401
    assert error.code == "invalid_api_key"
    assert error.type == "invalid_request_error"
    assert isinstance(error.body, dict)
    ErrorObject.model_validate(error.body)
    assert KEY not in str(error.body), "OpenAI masks the key it rejects"
    assert KEY[-4:] in error.body["message"]


async def test_openai_rate_limit_with_retry_after(sim: ProviderSimulator) -> None:
    sim.fail_next("openai", status=429, retry_after="2")
    client = openai_client(sim)
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model=OPENAI_MODEL, messages=[{"role": "user", "content": "x"}]
            )
        after = await client.chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": "x"}]
        )
    finally:
        await client.close()
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"
    assert after.choices[0].message.content == "echo: x"


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_openai_scripted_errors(
    sim: ProviderSimulator, status: int, exception: type[Exception]
) -> None:
    sim.fail_next("openai", status=status, message=f"scripted {status}")
    client = openai_client(sim)
    try:
        with pytest.raises(exception) as caught:
            await client.chat.completions.create(
                model=OPENAI_MODEL, messages=[{"role": "user", "content": "x"}]
            )
    finally:
        await client.close()
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert ErrorObject.model_validate(caught.value.body).message == f"scripted {status}"


@pytest.mark.parametrize("provider", OPENAI_COMPATIBLE)
async def test_each_compatible_provider_rejects_a_bad_key_its_own_way(
    sim: ProviderSimulator, provider: str
) -> None:
    sim.set_valid_keys(provider, {"good-key"})
    client = openai_client(sim, provider, key=KEY)
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    finally:
        await client.close()
    # xAI answers a bad key with 400, the others with 401.
    expected = openai.BadRequestError if provider == "xai" else openai.AuthenticationError
    assert type(caught.value) is expected
    assert KEY not in json.dumps(caught.value.body)


async def test_openai_missing_key_and_bad_request(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    base = sim.base_url("openai")
    missing = await http.post(f"{base}/chat/completions", json=chat_body())
    assert missing.status_code == 401
    assert ErrorObject.model_validate(missing.json()["error"]).message.startswith(
        "You didn't provide an API key"
    )
    no_messages = await http.post(f"{base}/chat/completions", headers=bearer(), json={"model": OPENAI_MODEL})
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    garbage = await http.post(f"{base}/chat/completions", headers=bearer(), content=b"{not json")
    assert garbage.status_code == 400
    unknown = await http.get(f"{base}/nothing-here", headers=bearer())
    assert unknown.status_code == 404


# --- Anthropic, through the anthropic SDK --------------------------------------------------------


async def test_anthropic_message(sim: ProviderSimulator) -> None:
    client = anthropic_client(sim)
    try:
        message = await client.messages.create(
            model=CLAUDE, max_tokens=256, system="be brief", messages=[{"role": "user", "content": PROMPT}]
        )
        cut = await client.messages.create(
            model=CLAUDE, max_tokens=2, messages=[{"role": "user", "content": PROMPT}]
        )
        stopped = await client.messages.create(
            model=CLAUDE,
            max_tokens=256,
            stop_sequences=["brown"],
            messages=[{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
        )
    finally:
        await client.close()
    assert isinstance(message, Message)
    assert message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == EXPECTED
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 5)
    assert cut.stop_reason == "max_tokens"
    assert cut.content[0].type == "text"
    assert cut.content[0].text == "echo: the"
    assert cut.usage.output_tokens == 2
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "brown")
    assert stopped.content[0].type == "text"
    assert stopped.content[0].text == "echo: the quick"


async def test_anthropic_stream_events(sim: ProviderSimulator) -> None:
    client = anthropic_client(sim)
    try:
        stream = await client.messages.create(
            model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        events = [event async for event in stream]
        async with client.messages.stream(
            model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
        ) as helper:
            final = await helper.get_final_message()
    finally:
        await client.close()
    kinds = [event.type for event in events]
    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 5,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(
        event.delta.text
        for event in events
        if event.type == "content_block_delta" and event.delta.type == "text_delta"
    )
    assert text == EXPECTED
    start, delta = events[0], events[-2]
    assert start.type == "message_start"
    assert start.message.usage.input_tokens == 4
    assert delta.type == "message_delta"
    assert (delta.delta.stop_reason, delta.usage.output_tokens) == ("end_turn", 5)
    assert final.content[0].type == "text"
    assert final.content[0].text == EXPECTED
    assert (final.usage.input_tokens, final.usage.output_tokens, final.stop_reason) == (4, 5, "end_turn")


async def test_anthropic_raw_bodies_validate_strictly(
    sim: ProviderSimulator, http: httpx.AsyncClient
) -> None:
    base = sim.base_url("anthropic")
    plain = await http.post(f"{base}/v1/messages", headers=ANTHROPIC_HEADERS, json=claude_body())
    assert_known_fields(Message.model_validate(plain.json()))
    streamed = await http.post(
        f"{base}/v1/messages", headers=ANTHROPIC_HEADERS, json=claude_body(stream=True)
    )
    adapter: pydantic.TypeAdapter[RawMessageStreamEvent] = pydantic.TypeAdapter(RawMessageStreamEvent)
    names = []
    for name, data in sse_events(streamed.text):
        names.append(name)
        assert name is not None
        assert json.loads(data)["type"] == name
        if name != "ping":
            assert_known_fields(adapter.validate_json(data))
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-1] == "message_stop"
    listing = await http.get(f"{base}/v1/models", headers=ANTHROPIC_HEADERS)
    for entry in listing.json()["data"]:
        assert_known_fields(ModelInfo.model_validate(entry))


async def test_anthropic_models_list(sim: ProviderSimulator) -> None:
    client = anthropic_client(sim)
    try:
        models = [model async for model in client.models.list()]
    finally:
        await client.close()
    assert all(isinstance(model, ModelInfo) for model in models)
    assert [model.id for model in models] == list(sim.models("anthropic"))


async def test_anthropic_auth_and_rate_limit_errors(sim: ProviderSimulator) -> None:
    sim.set_valid_keys("anthropic", {"sk-ant-good"})
    client = anthropic_client(sim, key=KEY)
    try:
        with pytest.raises(anthropic.AuthenticationError) as auth:
            await client.messages.create(
                model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        sim.set_valid_keys("anthropic", None)
        sim.fail_next("anthropic", status=429, retry_after="7")
        with pytest.raises(anthropic.RateLimitError) as limited:
            await client.messages.create(
                model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        sim.fail_next("anthropic", status=529)
        with pytest.raises(anthropic.OverloadedError) as overloaded:
            await client.messages.create(
                model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        sim.fail_next("anthropic", status=500)
        with pytest.raises(anthropic.InternalServerError):
            await client.messages.create(
                model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
    finally:
        await client.close()
    assert auth.value.status_code == 401
    assert ErrorResponse.model_validate(auth.value.body).error.type == "authentication_error"
    assert limited.value.response.headers["retry-after"] == "7"
    assert ErrorResponse.model_validate(limited.value.body).error.type == "rate_limit_error"
    assert overloaded.value.status_code == 529
    assert ErrorResponse.model_validate(overloaded.value.body).error.type == "overloaded_error"
    assert auth.value.request_id is not None
    assert auth.value.request_id.startswith("req_")


async def test_anthropic_required_headers(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    url = f"{sim.base_url('anthropic')}/v1/messages"
    no_key = await http.post(url, headers={"anthropic-version": "2023-06-01"}, json=claude_body())
    assert no_key.status_code == 401
    assert ErrorResponse.model_validate(no_key.json()).error.type == "authentication_error"
    no_version = await http.post(url, headers={"x-api-key": KEY}, json=claude_body())
    assert no_version.status_code == 400
    error = ErrorResponse.model_validate(no_version.json()).error
    assert error.type == "invalid_request_error"
    assert "anthropic-version" in error.message
    no_max_tokens = await http.post(
        url, headers=ANTHROPIC_HEADERS, json={"model": CLAUDE, "messages": [{"role": "user", "content": "x"}]}
    )
    assert no_max_tokens.status_code == 400
    assert no_max_tokens.json()["error"]["message"] == "max_tokens: Field required"


# --- Google, through the google-genai SDK --------------------------------------------------------


async def test_google_generate_content(sim: ProviderSimulator) -> None:
    client = google_client(sim)
    try:
        response = await client.aio.models.generate_content(
            model=GEMINI,
            contents=PROMPT,
            config=genai_types.GenerateContentConfig(system_instruction="be brief"),
        )
        cut = await client.aio.models.generate_content(
            model=GEMINI, contents=PROMPT, config=genai_types.GenerateContentConfig(max_output_tokens=2)
        )
        stopped = await client.aio.models.generate_content(
            model=GEMINI, contents=PROMPT, config=genai_types.GenerateContentConfig(stop_sequences=["brown"])
        )
    finally:
        await client.aio.aclose()
    assert isinstance(response, genai_types.GenerateContentResponse)
    assert response.text == EXPECTED
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai_types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (6, 5, 11)
    assert cut.text == "echo: the"
    assert cut.candidates is not None
    assert cut.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
    assert stopped.text == "echo: the quick"


async def test_google_stream(sim: ProviderSimulator) -> None:
    client = google_client(sim)
    try:
        chunks = [
            chunk
            async for chunk in await client.aio.models.generate_content_stream(model=GEMINI, contents=PROMPT)
        ]
    finally:
        await client.aio.aclose()
    assert all(isinstance(chunk, genai_types.GenerateContentResponse) for chunk in chunks)
    assert [chunk.text for chunk in chunks] == tokens_of(EXPECTED)
    finishes = [chunk.candidates[0].finish_reason if chunk.candidates else None for chunk in chunks]
    assert finishes == [None] * 4 + [genai_types.FinishReason.STOP]
    usage = chunks[-1].usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (4, 5, 9)
    [stream_call] = sim.calls_for("google")
    assert stream_call.path.endswith(f"/models/{GEMINI}:streamGenerateContent")
    assert stream_call.query == {"alt": "sse"}
    assert stream_call.stream


async def test_google_raw_bodies_validate_strictly(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    """The genai types forbid unknown fields, so validation alone catches drift."""
    base = sim.base_url("google")
    plain = await http.post(
        f"{base}/v1beta/models/{GEMINI}:generateContent", headers=GOOGLE_HEADERS, json=gemini_body()
    )
    assert genai_types.GenerateContentResponse.model_validate(plain.json()).text == EXPECTED
    streamed = await http.post(
        f"{base}/v1beta/models/{GEMINI}:streamGenerateContent?alt=sse",
        headers=GOOGLE_HEADERS,
        json=gemini_body(),
    )
    texts = [
        genai_types.GenerateContentResponse.model_validate_json(data).text
        for _, data in sse_events(streamed.text)
    ]
    assert "".join(t or "" for t in texts) == EXPECTED
    array = await http.post(
        f"{base}/v1beta/models/{GEMINI}:streamGenerateContent", headers=GOOGLE_HEADERS, json=gemini_body()
    )
    parsed = [genai_types.GenerateContentResponse.model_validate(item) for item in array.json()]
    assert "".join(item.text or "" for item in parsed) == EXPECTED


async def test_google_models_list(sim: ProviderSimulator) -> None:
    client = google_client(sim)
    try:
        models = [model async for model in await client.aio.models.list()]
    finally:
        await client.aio.aclose()
    assert all(isinstance(model, genai_types.Model) for model in models)
    assert [model.name for model in models] == [f"models/{m}" for m in sim.models("google")]
    assert models[0].supported_actions is not None
    assert "generateContent" in models[0].supported_actions


async def test_google_errors(sim: ProviderSimulator) -> None:
    client = google_client(sim)
    try:
        sim.set_valid_keys("google", {"AIza-good"})
        with pytest.raises(genai_errors.ClientError) as invalid:
            await client.aio.models.generate_content(model=GEMINI, contents="x")
        sim.set_valid_keys("google", None)
        sim.fail_next("google", status=401)
        with pytest.raises(genai_errors.ClientError) as unauthenticated:
            await client.aio.models.generate_content(model=GEMINI, contents="x")
        sim.fail_next("google", status=429, retry_after="3")
        with pytest.raises(genai_errors.ClientError) as exhausted:
            await client.aio.models.generate_content(model=GEMINI, contents="x")
        sim.fail_next("google", status=503)
        with pytest.raises(genai_errors.ServerError) as unavailable:
            await client.aio.models.generate_content(model=GEMINI, contents="x")
    finally:
        await client.aio.aclose()
    assert (invalid.value.code, invalid.value.status) == (400, "INVALID_ARGUMENT")
    assert invalid.value.message == "API key not valid. Please pass a valid API key."
    assert (unauthenticated.value.code, unauthenticated.value.status) == (401, "UNAUTHENTICATED")
    assert (exhausted.value.code, exhausted.value.status) == (429, "RESOURCE_EXHAUSTED")
    retry_info = [d for d in exhausted.value.details["error"]["details"] if d["@type"].endswith("RetryInfo")]
    assert retry_info == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]
    assert (unavailable.value.code, unavailable.value.status) == (503, "UNAVAILABLE")


async def test_google_key_comes_in_a_header_never_the_url(
    sim: ProviderSimulator, http: httpx.AsyncClient
) -> None:
    client = google_client(sim)
    try:
        await client.aio.models.generate_content(model=GEMINI, contents="x")
        _ = [model async for model in await client.aio.models.list()]
    finally:
        await client.aio.aclose()
    assert sim.keys_seen("google") == {KEY}
    for call in sim.calls_for("google"):
        assert call.headers["x-goog-api-key"] == KEY
        assert "key" not in call.query
    assert sim.violations == []

    # A key in the URL still works, as on the real API, but is recorded so tests can forbid it.
    in_url = await http.get(f"{sim.base_url('google')}/v1beta/models", params={"key": "AIza-in-url"})
    assert in_url.status_code == 200
    assert sim.calls[-1].api_key == "AIza-in-url"
    assert len(sim.violations) == 1
    assert "URL query" in sim.violations[0]
    assert "AIza-in-url" not in sim.violations[0]

    missing = await http.get(f"{sim.base_url('google')}/v1beta/models")
    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")


# --- recording -----------------------------------------------------------------------------------


async def test_recording(sim: ProviderSimulator) -> None:
    before = time.monotonic()
    oai = openai_client(sim, key="sk-one")
    oai2 = openai_client(sim, key="sk-two")
    ant = anthropic_client(sim, key="sk-ant-one")
    try:
        await oai.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "a"}])
        await oai2.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "b"}])
        await ant.messages.create(model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "c"}])
    finally:
        await oai.close()
        await oai2.close()
        await ant.close()
    assert [call.provider for call in sim.calls] == ["openai", "openai", "anthropic"]
    assert sim.keys_seen("openai") == {"sk-one", "sk-two"}
    assert sim.keys_seen("anthropic") == {"sk-ant-one"}
    assert sim.keys_seen("groq") == set()
    first = sim.calls_for("openai")[0]
    assert (first.method, first.path, first.status, first.stream) == (
        "POST",
        "/v1/chat/completions",
        200,
        False,
    )
    assert first.json_body == {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "a"}]}
    assert first.headers["authorization"] == "Bearer sk-one"
    starts = [call.started_at for call in sim.calls]
    assert before <= starts[0] <= starts[1] <= starts[2] <= time.monotonic()
    claude = sim.calls_for("anthropic")[0]
    assert claude.path == "/v1/messages"
    assert "anthropic-version" in claude.headers
    sim.reset()
    assert sim.calls == []
    assert sim.keys_seen("openai") == set()


async def test_anthropic_key_accepted_from_x_api_key_or_bearer(
    sim: ProviderSimulator, http: httpx.AsyncClient
) -> None:
    url = f"{sim.base_url('anthropic')}/v1/messages"
    version = {"anthropic-version": "2023-06-01"}
    assert (
        await http.post(url, headers={**version, "x-api-key": "k1"}, json=claude_body())
    ).status_code == 200
    assert (await http.post(url, headers={**version, **bearer("k2")}, json=claude_body())).status_code == 200
    assert [call.api_key for call in sim.calls_for("anthropic")] == ["k1", "k2"]


# --- fault knobs (plain httpx) -------------------------------------------------------------------


async def test_fail_next_counts_and_persistence(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    url, headers, body = generate_request(sim, "openai", stream=False)
    fault = sim.fail_next("openai", status=500, times=2)
    statuses = [(await http.post(url, headers=headers, json=body)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert (fault.hits, fault.remaining) == (2, 0)

    sim.fail_next("openai", status=503, times=None)
    statuses = [(await http.post(url, headers=headers, json=body)).status_code for _ in range(3)]
    assert statuses == [503, 503, 503]
    # A "generate" fault leaves the models endpoint alone; an "any" fault does not.
    assert (await http.get(f"{sim.base_url('openai')}/models", headers=headers)).status_code == 200
    sim.clear_faults("openai")
    assert (await http.post(url, headers=headers, json=body)).status_code == 200
    sim.fail_next("openai", status=429, endpoint="any")
    assert (await http.get(f"{sim.base_url('openai')}/models", headers=headers)).status_code == 429
    # Faults are per provider.
    sim.fail_next("groq", status=500)
    assert (await http.post(url, headers=headers, json=body)).status_code == 200
    with pytest.raises(ValueError, match="needs a status"):
        sim.fail_next("openai")
    with pytest.raises(ValueError, match="unknown provider"):
        sim.fail_next("nope", status=500)


async def test_faults_match_their_endpoint(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    url, headers, body = generate_request(sim, "openai", stream=False)
    models_url = f"{sim.base_url('openai')}/models"
    sim.fail_next("openai", status=500, endpoint="models")
    sim.fail_next("openai", status=429)
    assert (await http.post(url, headers=headers, json=body)).status_code == 429
    assert (await http.get(models_url, headers=headers)).status_code == 500
    assert (await http.post(url, headers=headers, json=body)).status_code == 200


async def test_remote_control(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    """A simulator in another process is scripted over HTTP under /_sim/."""
    control = f"{sim.url}/_sim"
    url, headers, body = generate_request(sim, "anthropic", stream=False)
    scripted = await http.post(f"{control}/fail_next", json={"provider": "anthropic", "status": 529})
    assert scripted.json()["fault"]["status"] == 529
    assert (await http.post(url, headers=headers, json=body)).status_code == 529
    await http.post(f"{control}/valid_keys", json={"provider": "anthropic", "keys": ["other"]})
    assert (await http.post(url, headers=headers, json=body)).status_code == 401
    calls = (await http.get(f"{control}/calls")).json()
    assert [(c["provider"], c["status"]) for c in calls["calls"]] == [("anthropic", 529), ("anthropic", 401)]
    bad = await http.post(f"{control}/fail_next", json={"provider": "anthropic", "bogus": 1})
    assert bad.status_code == 400
    await http.post(f"{control}/reset")
    assert sim.calls == []
    assert (await http.post(url, headers=headers, json=body)).status_code == 200


@pytest.mark.parametrize("provider", ["openai", "mistral", "xai", "openrouter", "anthropic", "google"])
async def test_echo_key(sim: ProviderSimulator, http: httpx.AsyncClient, provider: str) -> None:
    url, headers, body = generate_request(sim, provider, stream=False)
    sim.fail_next(provider, status=403, echo_key=True)
    response = await http.post(url, headers=headers, json=body)
    assert response.status_code == 403
    assert KEY in response.text
    sim.fail_next(provider, status=403)
    assert KEY not in (await http.post(url, headers=headers, json=body)).text


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_delay_first_byte(sim: ProviderSimulator, http: httpx.AsyncClient, provider: str) -> None:
    url, headers, body = generate_request(sim, provider, stream=False)
    sim.fail_next(provider, delay_first_byte=0.2)
    started = time.monotonic()
    response = await http.post(url, headers=headers, json=body)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_stall_after_events(sim: ProviderSimulator, provider: str) -> None:
    url, headers, body = generate_request(sim, provider, stream=True)
    sim.fail_next(provider, stall_after_events=2)
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.25)) as client,
        client.stream("POST", url, headers=headers, json=body) as response,
    ):
        assert response.status_code == 200
        received, timed_out = await drain(response)
    assert timed_out
    assert len(sse_events(received)) == 2
    assert await _settles(sim), "the stalled response ends once the client has gone"
    assert sim.calls[-1].disconnected


async def drain(response: httpx.Response) -> tuple[str, bool]:
    """The text received, and whether reading it timed out."""
    received = ""
    try:
        async for text in response.aiter_text():
            received += text
    except httpx.ReadTimeout:
        return received, True
    return received, False


async def _settles(sim: ProviderSimulator) -> bool:
    for _ in range(100):
        if sim.in_flight == 0:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_stall_non_streamed(sim: ProviderSimulator) -> None:
    url, headers, body = generate_request(sim, "openai", stream=False)
    sim.fail_next("openai", stall_after_events=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.2)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, headers=headers, json=body)
    assert await _settles(sim)


@pytest.mark.parametrize(
    ("provider", "terminal"),
    [("openai", "[DONE]"), ("anthropic", "message_stop"), ("google", "finishReason")],
)
async def test_truncate_after_events(
    sim: ProviderSimulator, http: httpx.AsyncClient, provider: str, terminal: str
) -> None:
    url, headers, body = generate_request(sim, provider, stream=True)
    sim.fail_next(provider, truncate_after_events=3)
    response = await http.post(url, headers=headers, json=body)
    assert response.status_code == 200
    assert len(sse_events(response.text)) == 3
    assert terminal not in response.text
    complete = await http.post(url, headers=headers, json=body)
    assert terminal in complete.text


async def test_truncate_non_streamed(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    url, headers, body = generate_request(sim, "anthropic", stream=False)
    sim.fail_next("anthropic", truncate_after_events=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(url, headers=headers, json=body)


async def test_truncated_stream_seen_by_the_sdk(sim: ProviderSimulator) -> None:
    sim.fail_next("anthropic", truncate_after_events=4)
    client = anthropic_client(sim)
    try:
        stream = await client.messages.create(
            model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        kinds = [event.type async for event in stream]
    finally:
        await client.close()
    assert "message_stop" not in kinds


@pytest.mark.parametrize("status", [200, 502])
async def test_not_json(sim: ProviderSimulator, http: httpx.AsyncClient, status: int) -> None:
    url, headers, body = generate_request(sim, "openai", stream=False)
    sim.fail_next("openai", not_json=True, status=None if status == 200 else status)
    response = await http.post(url, headers=headers, json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="Expecting value"):
        response.json()


async def test_huge_body(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    size = 300_000
    url, headers, body = generate_request(sim, "openai", stream=False)
    sim.fail_next("openai", huge_body_bytes=size)
    response = await http.post(url, headers=headers, json=body)
    content = ChatCompletion.model_validate(response.json()).choices[0].message.content
    assert content is not None
    assert len(content) == size
    assert len(response.content) > size

    url, headers, body = generate_request(sim, "anthropic", stream=True)
    sim.fail_next("anthropic", huge_body_bytes=size)
    streamed = await http.post(url, headers=headers, json=body)
    texts = [
        json.loads(data)["delta"]["text"]
        for name, data in sse_events(streamed.text)
        if name == "content_block_delta"
    ]
    assert len("".join(texts)) == size
    assert len(texts) > 1

    sim.fail_next("anthropic", status=500, huge_body_bytes=size)
    error = await http.post(url, headers=headers, json=body)
    assert error.status_code == 500
    assert len(error.content) > size


async def test_paced_stream(sim: ProviderSimulator, http: httpx.AsyncClient) -> None:
    url, headers, body = generate_request(sim, "openai", stream=True)
    sim.fail_next("openai", paced_stream_interval=0.05)
    started = time.monotonic()
    response = await http.post(url, headers=headers, json=body)
    elapsed = time.monotonic() - started
    events = sse_events(response.text)
    assert events[-1] == (None, "[DONE]")
    assert elapsed >= 0.05 * (len(events) - 1)


async def test_many_concurrent_paced_streams(sim: ProviderSimulator) -> None:
    # Paced streams are served side by side, not one after another: all 200 are open at once (each
    # waits after its first paced event until released), then every one completes.
    url, headers, body = generate_request(sim, "openai", stream=True)
    sim.fail_next("openai", paced_stream_interval=0.02, hold_after_events=1, times=None)
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one() -> str:
            response = await client.post(url, headers=headers, json=body)
            return response.text

        streams = [asyncio.create_task(one()) for _ in range(200)]
        await eventually_held(sim, 200)
        assert not any(stream.done() for stream in streams)
        assert sim.release_held() == 200
        texts = await asyncio.gather(*streams)
    assert all(text.endswith("data: [DONE]\n\n") for text in texts)


async def eventually_held(sim: ProviderSimulator, streams: int, *, timeout: float = 30.0) -> None:
    """Wait until `streams` streams are held (a generous bound: a loaded machine is slow, not wrong)."""
    deadline = time.monotonic() + timeout
    while sim.held < streams:
        assert time.monotonic() < deadline, f"only {sim.held} of {streams} streams open at once"
        await asyncio.sleep(0.01)


async def test_held_streams_wait_for_release(sim: ProviderSimulator) -> None:
    url, headers, body = generate_request(sim, "openai", stream=True)
    sim.fail_next("openai", hold_after_events=2, times=3)
    async with httpx.AsyncClient(timeout=5) as client:

        async def one() -> str:
            response = await client.post(url, headers=headers, json=body)
            return response.text

        streams = [asyncio.create_task(one()) for _ in range(3)]
        while sim.held < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert not any(stream.done() for stream in streams)
        assert sim.held == 3
        assert sim.release_held() == 3
        texts = await asyncio.gather(*streams)
        assert sim.held == 0
        assert all(sse_events(text)[-1] == (None, "[DONE]") for text in texts)
        unheld = await one()  # the fault is used up: nothing waits
        assert sse_events(unheld)[-1] == (None, "[DONE]")


async def test_stop_ends_stalled_streams_promptly() -> None:
    sim = ProviderSimulator()
    await sim.start()
    url, headers, body = generate_request(sim, "openai", stream=True)
    sim.fail_next("openai", stall_after_events=1)
    async with (
        httpx.AsyncClient(timeout=5) as client,
        client.stream("POST", url, headers=headers, json=body) as response,
    ):
        first = await response.aiter_text().__anext__()
        assert first.startswith("data: ")
        started = time.monotonic()
        await sim.stop()
        assert time.monotonic() - started < 2
    async with httpx.AsyncClient(timeout=1) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{sim.port}/openai/v1/models")


async def test_runs_standalone() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "switchyard_dev.provider_sim", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await asyncio.to_thread(wait_for_port, port, 15, pid=process.pid)
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(
                f"http://127.0.0.1:{port}/anthropic/v1/models", headers=ANTHROPIC_HEADERS
            )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        stdout, _ = await asyncio.to_thread(process.communicate, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert f"ROUTER_OPENAI_BASE_URL=http://127.0.0.1:{port}/openai/v1" in stdout
