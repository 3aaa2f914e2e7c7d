"""`Idempotency-Key` on a message POST: retries replay the first answer instead of asking again."""

from __future__ import annotations

import asyncio

from tests.chat_api.chat_helpers import ANTHROPIC_MODEL, MISTRAL_MODEL, PROBLEMS, new_conversation, send
from tests.support.chat_api import ChatApiStack


async def test_a_retry_replays_the_answer_without_calling_the_provider(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    key = {"Idempotency-Key": "retry-1"}
    first = await send(stack, user, conversation, "only once", headers=key)
    assert first.response.status_code == 200
    calls = len(stack.sim.calls_for("anthropic"))

    again = await send(stack, user, conversation, "only once", headers=key)
    assert again.response.status_code == 200
    assert again.response.content == first.response.content
    assert again.response.headers["x-switchyard-key-source"] == "platform"
    assert len(stack.sim.calls_for("anthropic")) == calls
    stored = (await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)).json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]

    other_user = await stack.register()
    theirs = await new_conversation(stack, other_user)
    independent = await send(stack, other_user, theirs, "only once", headers=key)
    assert independent.response.status_code == 200  # keys are per user
    assert len(stack.sim.calls_for("anthropic")) == calls + 1


async def test_the_same_key_with_another_body_is_422(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    key = {"Idempotency-Key": "retry-2"}
    assert (await send(stack, user, conversation, "first", headers=key)).response.status_code == 200
    reused = await send(stack, user, conversation, "different", headers=key)
    assert reused.response.status_code == 422
    assert reused.response.json()["type"] == PROBLEMS + "idempotency-key-reused"


async def test_a_retry_while_the_first_is_running_is_409(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    key = {"Idempotency-Key": "retry-3"}
    stack.sim.fail_next("anthropic", delay_first_byte=1.0)
    first = asyncio.create_task(send(stack, user, conversation, "slow", headers=key))
    while not stack.sim.calls_for("anthropic"):
        await asyncio.sleep(0.01)
    pending = await send(stack, user, conversation, "slow", headers=key)
    assert pending.response.status_code == 409
    assert pending.response.json()["type"] == PROBLEMS + "conflict"
    assert (await first).response.status_code == 200


async def test_a_failure_before_routing_lets_the_retry_run(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    key = {"Idempotency-Key": "retry-4"}
    denied = await send(stack, user, conversation, "hi", model=MISTRAL_MODEL, headers=key)
    assert denied.response.status_code == 403
    await stack.add_key(user, "mistral")
    retried = await send(stack, user, conversation, "hi", model=MISTRAL_MODEL, headers=key)
    assert retried.response.status_code == 200
    assert retried.first("route")["key_source"] == "user"
    stored = (await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)).json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]


async def test_a_broken_answer_is_not_replayed(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    key = {"Idempotency-Key": "retry-5"}
    stack.sim.fail_next("anthropic", truncate_after_events=5)
    broken = await send(stack, user, conversation, "a b c d e f", model=ANTHROPIC_MODEL, headers=key)
    assert "error" in broken.names
    retried = await send(stack, user, conversation, "a b c d e f", model=ANTHROPIC_MODEL, headers=key)
    assert retried.names[-2:] == ["usage", "done"]
