"""A client that goes away mid-answer: the partial answer is kept as "cancelled", and nothing leaks."""

from __future__ import annotations

import asyncio

from tests.chat_api.chat_helpers import ANTHROPIC_MODEL, new_conversation
from tests.support.chat_api import ChatApiStack


async def test_a_disconnect_stores_what_arrived_as_cancelled(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    stack.sim.fail_next("anthropic", paced_stream_interval=0.2)
    body = {"content": " ".join(f"word{i}" for i in range(30)), "model": ANTHROPIC_MODEL}
    async with stack.http.stream(
        "POST", f"/v1/conversations/{conversation}/messages", json=body, headers=user.headers
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event: delta"):
                break

    for _ in range(200):
        stored = (await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)).json()
        if len(stored["messages"]) == 2:
            break
        await asyncio.sleep(0.05)
    reply = stored["messages"][-1]
    assert reply["role"] == "assistant"
    assert reply["error_type"] == "cancelled"
    assert reply["content"].startswith("echo:")
    call = stack.sim.calls_for("anthropic")[-1]
    for _ in range(100):
        if call.disconnected:
            break
        await asyncio.sleep(0.05)
    assert call.disconnected, "the provider call went on after the client left"
    assert stack.open_transactions() == 0, "a lease outlived the cancelled request"
    usage = (await stack.http.get("/v1/usage", headers=user.headers)).json()
    assert usage["total"]["requests"] == 1
