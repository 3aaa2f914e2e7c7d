"""Hostile provider content end to end, through chat-api's two APIs with a user's own key: a reply
that is not JSON, an enormous error body that echoes the key, an enormous answer and a truncated
stream. The user gets a clean answer or a clean error (never a 500), and the key appears nowhere in
what chat-api sends back. (The router's side of each is in tests/router/test_router_service.py,
test_router_leaks.py and test_provider_transport.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chat_api.chat_helpers import OPENAI_MODEL, PROBLEMS, new_conversation, send
from tests.support.chat_api import ChatApiStack, provider_key

MIB = 1024 * 1024

FAULTS: dict[str, dict[str, Any]] = {
    "not-json": {"not_json": True},
    "huge-error-echoing-the-key": {"status": 500, "huge_body_bytes": 3 * MIB, "echo_key": True},
    "echoed-key-in-a-400": {"status": 400, "echo_key": True},
    "truncated": {"truncate_after_events": 2},
}


async def _each_api(stack: ChatApiStack, token_headers: dict[str, str], conversation: str) -> list[str]:
    """The answers of a completion, a streamed completion and a conversation message, as text."""
    body = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "hello"}]}
    plain = await stack.http.post("/v1/chat/completions", json=body, headers=token_headers)
    streamed = await stack.http.post(
        "/v1/chat/completions", json={**body, "stream": True}, headers=token_headers
    )
    message = await stack.http.post(
        f"/v1/conversations/{conversation}/messages",
        json={"content": "hello", "model": OPENAI_MODEL},
        headers=token_headers,
    )
    answers = []
    for response in (plain, streamed, message):
        assert response.status_code < 500 or response.status_code == 502, response.text[:500]
        if response.status_code == 502:
            problem = response.json()
            kind = problem["error"]["code"] if "error" in problem else problem["type"]
            assert kind in ("provider_unavailable", PROBLEMS + "provider-unavailable"), problem
        answers.append(response.text + "".join(f"{k}: {v}" for k, v in response.headers.items()))
    return answers


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
async def test_hostile_provider_content_gives_a_clean_answer_and_never_the_key(
    stack: ChatApiStack, fault: str
) -> None:
    user = await stack.register()
    key = provider_key("openai")
    await stack.add_key(user, "openai", key)
    conversation = await new_conversation(stack, user)
    stack.sim.fail_next("openai", times=None, **FAULTS[fault])
    try:
        answers = await _each_api(stack, user.headers, conversation)
    finally:
        stack.sim.clear_faults()
    for answer in answers:
        assert key not in answer
        assert key[-24:] not in answer
    # And chat-api is fine afterwards.
    after = await send(stack, user, conversation, "again", OPENAI_MODEL)
    assert after.response.status_code == 200
    assert after.names[-1] == "done"


async def test_an_enormous_answer_is_relayed_or_refused_cleanly(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = provider_key("openai")
    await stack.add_key(user, "openai", key)
    conversation = await new_conversation(stack, user)
    stack.sim.fail_next("openai", times=3, huge_body_bytes=3 * MIB)
    answers = await _each_api(stack, user.headers, conversation)
    for answer in answers:
        assert key not in answer
