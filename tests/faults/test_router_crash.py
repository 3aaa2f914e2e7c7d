"""Fault: the router process is killed (SIGKILL) while it streams an answer.

The client's SSE stream ends with an `error` event instead of hanging, the partial assistant
message is stored with its error mark, and once a router is back on the same port the next request
works without restarting chat-api.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.process_stack import ProcessStack, sse_events

pytestmark = pytest.mark.slow  # each starts the whole stack as processes

PROBLEMS = "https://switchyard.dev/problems/"
MODEL = "anthropic/claude-sonnet-5"
PROMPT = " ".join(f"word{i}" for i in range(40))
DELTAS_BEFORE_KILL = 3
STREAM_BOUND_SECONDS = 20


async def test_router_killed_mid_stream(process_stack: ProcessStack) -> None:
    stack = process_stack
    user = await stack.register()
    conversation = await stack.new_conversation(user)
    chat_api_pid = stack.chat_api.process.pid if stack.chat_api.process else None
    # Paced, so the answer is still streaming when the router dies.
    stack.sim.fail_next("anthropic", paced_stream_interval=0.1)

    events: list[tuple[str, dict[str, Any]]] = []
    async with (
        asyncio.timeout(STREAM_BOUND_SECONDS),
        stack.message_stream(user, conversation, PROMPT, MODEL) as response,
    ):
        assert response.status_code == 200
        async for event in sse_events(response):
            events.append(event)
            if [name for name, _ in events].count("delta") == DELTAS_BEFORE_KILL:
                stack.router.kill()

    names = [name for name, _ in events]
    assert names[0] == "route"
    assert names.count("delta") >= DELTAS_BEFORE_KILL
    assert names[-2:] == ["error", "done"], names
    (_, error), (_, done) = events[-2:]
    assert error["type"] == PROBLEMS + "router-unavailable"
    assert "usage" not in names
    streamed = "".join(data["text"] for name, data in events if name == "delta")

    detail = await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)
    assert detail.status_code == 200, detail.text
    user_message, answer = detail.json()["messages"][-2:]
    assert user_message == {**user_message, "role": "user", "content": PROMPT}
    assert answer["id"] == done["message_id"]
    assert answer["role"] == "assistant"
    assert answer["content"] == streamed
    assert answer["error_type"] == "router-unavailable"

    # The router is back on the same port; chat-api, never restarted, reconnects by itself.
    await stack.router.start()
    again = await stack.send_message(user, conversation, "are you back?", MODEL)
    assert again.status == 200, again.body
    assert again.names[0] == "route"
    assert again.names[-1] == "done"
    assert "error" not in again.names
    assert stack.chat_api.process is not None
    assert stack.chat_api.process.pid == chat_api_pid
    assert stack.chat_api.running
