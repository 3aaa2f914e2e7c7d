"""chat-api's limits: body size (413), chat size (422), key length (422) and per-user rate limits (429),
each with a stable problem type (OpenAI's error shape on /v1/chat/completions)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from chat_api.limits.rate import RateLimits
from tests.chat_api.chat_helpers import OPENAI_MODEL, PROBLEMS, new_conversation, send
from tests.chat_api.conftest import StackFactory
from tests.support.chat_api import ChatApiStack, User, provider_key

MIB = 1024 * 1024


def chat_body(count: int = 1, text_of: str = "hello") -> dict[str, Any]:
    return {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": text_of}] * count}


async def chunked(payload: bytes, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body sent with Transfer-Encoding: chunked (no Content-Length)."""
    for start in range(0, len(payload), piece):
        yield payload[start : start + piece]


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEMS + slug
    assert body["status"] == status
    return body


def assert_openai_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


# --- request body size ----------------------------------------------------------------------------


async def test_a_body_over_the_default_mib_is_refused_before_it_is_parsed(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    big = {"content": "x" * (MIB + 10), "model": OPENAI_MODEL}
    response = await stack.http.post(
        f"/v1/conversations/{conversation}/messages", json=big, headers=user.headers
    )
    body = assert_problem(response, 413, "payload-too-large")
    assert str(MIB) in body["detail"]
    assert response.headers["x-request-id"]
    stored = (await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)).json()
    assert stored["messages"] == []

    openai = await stack.http.post("/v1/chat/completions", json=chat_body(1, "x" * MIB), headers=user.headers)
    error = assert_openai_error(openai, 413, "payload_too_large")
    assert error["type"] == "invalid_request_error"


async def test_a_chunked_body_is_counted_as_it_arrives(stack: ChatApiStack) -> None:
    user = await stack.register()
    over = json.dumps({"name": "x" * (MIB + 1)}).encode()
    response = await stack.http.post("/v1/orgs", content=chunked(over), headers=user.headers)
    assert_problem(response, 413, "payload-too-large")

    small = json.dumps({"name": "chunked org"}).encode()
    created = await stack.http.post(
        "/v1/orgs",
        content=chunked(small, piece=4),
        headers={**user.headers, "content-type": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "chunked org"


async def test_the_body_limit_is_a_setting(stack_with: StackFactory) -> None:
    async with stack_with(max_request_body_bytes=2048) as stack:
        user = await stack.register()
        response = await stack.http.post("/v1/orgs", json={"name": "y" * 3000}, headers=user.headers)
        assert_problem(response, 413, "payload-too-large")
        assert (
            await stack.http.post("/v1/orgs", json={"name": "ok"}, headers=user.headers)
        ).status_code == 201


# --- chat size --------------------------------------------------------------------------------------


async def test_message_count_and_content_size_of_a_completion(stack_with: StackFactory) -> None:
    async with stack_with(max_chat_messages=3, max_chat_content_chars=100) as stack:
        user = await stack.register()
        ok = await stack.http.post("/v1/chat/completions", json=chat_body(3), headers=user.headers)
        assert ok.status_code == 200, ok.text
        calls = len(stack.sim.calls)

        many = await stack.http.post("/v1/chat/completions", json=chat_body(4), headers=user.headers)
        error = assert_openai_error(many, 422, "chat_too_large")
        assert "4 messages is more than the 3" in error["message"]

        long = await stack.http.post(
            "/v1/chat/completions", json=chat_body(2, "z" * 60), headers=user.headers
        )
        error = assert_openai_error(long, 422, "chat_too_large")
        assert "120 characters" in error["message"]
        assert len(stack.sim.calls) == calls, "a refused chat reached the provider"


async def test_a_conversation_over_the_limits_keeps_nothing_of_the_refused_turn(
    stack_with: StackFactory,
) -> None:
    async with stack_with(max_chat_messages=3, max_chat_content_chars=10_000) as stack:
        user = await stack.register()
        conversation = await new_conversation(stack, user)
        first = await send(stack, user, conversation, "one", OPENAI_MODEL)
        assert first.response.status_code == 200
        # The history (user, assistant) plus this message makes 3: allowed; then 5 is not.
        second = await send(stack, user, conversation, "two", OPENAI_MODEL)
        assert second.response.status_code == 200
        url = f"/v1/conversations/{conversation}/messages"
        response = await stack.http.post(
            url,
            json={"content": "three", "model": OPENAI_MODEL},
            headers={**user.headers, "Idempotency-Key": "k1"},
        )
        body = assert_problem(response, 422, "chat-too-large")
        assert "new conversation" in body["detail"]
        stored = (await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)).json()
        assert [m["content"] for m in stored["messages"] if m["role"] == "user"] == ["one", "two"]
        idempotency_rows = await asyncio.to_thread(_idempotency_rows, stack.database_url)
        assert idempotency_rows == 0


def _idempotency_rows(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM idempotency_records")).scalar_one())
    finally:
        engine.dispose()


# --- provider key length ------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [301, 4097, 100_000])
async def test_an_overlong_key_is_refused_without_being_repeated(stack: ChatApiStack, length: int) -> None:
    user = await stack.register()
    key = "sk-proj-" + "A" * length
    response = await stack.http.post(
        "/v1/keys", json={"provider": "openai", "api_key": key}, headers=user.headers
    )
    assert_problem(response, 422, "validation")
    assert "A" * 64 not in response.text
    assert (await stack.http.get("/v1/keys", headers=user.headers)).json() == []


# --- per-user rate limits ---------------------------------------------------------------------------------


async def test_adding_and_verifying_keys_share_a_bucket_per_user(stack_with: StackFactory) -> None:
    async with stack_with(key_check_rate_per_minute=6, key_check_rate_burst=2) as stack:
        user, other = await stack.register(), await stack.register()
        key = await stack.add_key(user, "openai")
        verify = await stack.http.post(f"/v1/keys/{key['id']}/verify", headers=user.headers)
        assert verify.status_code == 200, verify.text

        refused = await stack.http.post(
            "/v1/keys",
            json={"provider": "anthropic", "api_key": provider_key("anthropic")},
            headers=user.headers,
        )
        body = assert_problem(refused, 429, "rate-limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert "retry after" in body["detail"]
        again = await stack.http.post(f"/v1/keys/{key['id']}/verify", headers=user.headers)
        assert_problem(again, 429, "rate-limited")
        # Listing keys is not limited, and another user has a bucket of their own.
        assert (await stack.http.get("/v1/keys", headers=user.headers)).status_code == 200
        await stack.add_key(other, "openai")


class StoppedClock:
    """The rate limiter's clock, moved only by the test: no token refills while a check runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_chat_is_rate_limited_per_user_in_each_api_shape(stack_with: StackFactory) -> None:
    async with stack_with(chat_rate_per_minute=60, chat_rate_burst=2) as stack:
        clock = StoppedClock()
        stack.api.app.state.rate_limits = RateLimits.from_settings(stack.api.settings, clock=clock)
        user, other = await stack.register(), await stack.register()
        conversation = await new_conversation(stack, user)
        assert (await send(stack, user, conversation, "hi", OPENAI_MODEL)).response.status_code == 200
        ok = await stack.http.post("/v1/chat/completions", json=chat_body(), headers=user.headers)
        assert ok.status_code == 200, ok.text

        limited = await stack.http.post("/v1/chat/completions", json=chat_body(), headers=user.headers)
        error = assert_openai_error(limited, 429, "rate_limited")
        assert error["type"] == "rate_limit_error"
        assert limited.headers["retry-after"] == "1"
        sse = await stack.http.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": "again", "model": OPENAI_MODEL},
            headers=user.headers,
        )
        assert_problem(sse, 429, "rate-limited")
        other_ok = await stack.http.post("/v1/chat/completions", json=chat_body(), headers=other.headers)
        assert other_ok.status_code == 200

        clock.now += 0.5  # one token a second: half of one is not enough
        early = await stack.http.post("/v1/chat/completions", json=chat_body(), headers=user.headers)
        assert_openai_error(early, 429, "rate_limited")
        clock.now += 0.5
        refilled = await stack.http.post("/v1/chat/completions", json=chat_body(), headers=user.headers)
        assert refilled.status_code == 200, refilled.text


async def test_the_openai_sdk_sees_its_rate_limit_error(stack_with: StackFactory) -> None:
    import openai

    async with stack_with(chat_rate_per_minute=1, chat_rate_burst=1) as stack:
        user: User = await stack.register()
        client = openai.AsyncOpenAI(base_url=f"{stack.base_url}/v1", api_key=user.token, max_retries=0)
        await client.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(
                model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}]
            )
        assert raised.value.code == "rate_limited"
        await client.close()


# --- text PostgreSQL cannot store -------------------------------------------------------------------


async def test_a_nul_character_in_stored_text_is_a_validation_error_not_a_500(stack: ChatApiStack) -> None:
    """Found by the fuzzer: PostgreSQL refuses NUL in text columns, and POST /v1/tokens answered 500."""
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    key = await stack.add_key(user, "openai")
    attempts = [
        ("POST", "/v1/auth/register", {"email": "a\u0000b@example.com", "password": "correct horse battery"}),
        ("POST", "/v1/tokens", {"name": "ci\u0000"}),
        ("POST", "/v1/orgs", {"name": "org\u0000"}),
        ("POST", "/v1/conversations", {"title": "t\u0000"}),
        ("POST", f"/v1/conversations/{conversation}/messages", {"content": "\u0000", "model": OPENAI_MODEL}),
        (
            "POST",
            "/v1/keys",
            {"provider": "anthropic", "api_key": provider_key("anthropic"), "label": "\u0000"},
        ),
        ("PATCH", f"/v1/keys/{key['id']}", {"label": "x\u0000y"}),
    ]
    for method, path, body in attempts:
        response = await stack.http.request(method, path, json=body, headers=user.headers)
        assert_problem(response, 422, "validation")


async def test_numbers_the_router_cannot_carry_are_refused_not_a_500(stack: ChatApiStack) -> None:
    """Found by the fuzzer: max_tokens over uint32 or a seed over int64 failed building the gRPC request."""
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    for extra in (
        {"max_tokens": 2**32},
        {"max_completion_tokens": 2**40},
        {"seed": 2**63},
        {"seed": -(2**63) - 1},
    ):
        response = await stack.http.post(
            "/v1/chat/completions", json={**chat_body(), **extra}, headers=user.headers
        )
        assert response.status_code == 400, (extra, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"
    message = {"content": "hi", "model": OPENAI_MODEL, "parameters": {"seed": 2**64}}
    response = await stack.http.post(
        f"/v1/conversations/{conversation}/messages", json=message, headers=user.headers
    )
    assert_problem(response, 422, "validation")
    within = await stack.http.post(
        "/v1/chat/completions",
        json={**chat_body(), "max_tokens": 2**32 - 1, "seed": 2**63 - 1},
        headers=user.headers,
    )
    assert within.status_code == 200, within.text


async def test_booleans_and_integers_are_not_coerced_from_other_json_types(stack: ChatApiStack) -> None:
    """Found by the fuzzer: `fallback_to_platform: 0.0` and `expires_in_days: true` were accepted."""
    user = await stack.register()
    key = await stack.add_key(user, "openai")
    attempts = [
        ("PATCH", f"/v1/keys/{key['id']}", {"fallback_to_platform": 0.0}),
        (
            "POST",
            "/v1/keys",
            {"provider": "anthropic", "api_key": provider_key("anthropic"), "verify": "yes"},
        ),
        ("POST", "/v1/tokens", {"name": "ci", "expires_in_days": True}),
    ]
    for method, path, body in attempts:
        response = await stack.http.request(method, path, json=body, headers=user.headers)
        assert_problem(response, 422, "validation")
    stream = await stack.http.post(
        "/v1/chat/completions", json={**chat_body(), "stream": 1}, headers=user.headers
    )
    assert stream.status_code == 400
