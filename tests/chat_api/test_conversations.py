"""Conversations on the real stack: CRUD, the SSE answer, stored messages and history."""

from __future__ import annotations

from tests.chat_api.chat_helpers import (
    ANTHROPIC_MODEL,
    MISTRAL_MODEL,
    PROBLEMS,
    new_conversation,
    send,
)
from tests.support.chat_api import ChatApiStack
from tests.support.router import PLATFORM_KEYS


async def test_create_list_read_and_delete_conversations(stack: ChatApiStack) -> None:
    user, other = await stack.register(), await stack.register()
    first = await new_conversation(stack, user, "first")
    second = await new_conversation(stack, user)
    listed = (await stack.http.get("/v1/conversations", headers=user.headers)).json()
    assert [c["id"] for c in listed] == [second, first]
    assert listed[1]["title"] == "first"
    limited = await stack.http.get("/v1/conversations", params={"limit": 1}, headers=user.headers)
    assert [c["id"] for c in limited.json()] == [second]
    assert (await stack.http.get("/v1/conversations", headers=other.headers)).json() == []

    read = await stack.http.get(f"/v1/conversations/{first}", headers=user.headers)
    assert read.status_code == 200
    assert read.json()["messages"] == []
    theirs = await stack.http.get(f"/v1/conversations/{first}", headers=other.headers)
    assert theirs.status_code == 404
    assert theirs.json()["type"] == PROBLEMS + "not-found"
    assert (await stack.http.delete(f"/v1/conversations/{first}", headers=other.headers)).status_code == 404

    assert (await stack.http.delete(f"/v1/conversations/{first}", headers=user.headers)).status_code == 204
    assert (await stack.http.get(f"/v1/conversations/{first}", headers=user.headers)).status_code == 404


async def test_a_message_streams_route_deltas_usage_done_and_both_messages_are_stored(
    stack: ChatApiStack,
) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    answer = await send(stack, user, conversation, "hello there")

    assert answer.response.status_code == 200, answer.response.text
    assert answer.response.headers["x-switchyard-key-source"] == "platform"
    assert answer.response.headers["x-switchyard-provider"] == "anthropic"
    names = answer.names
    assert names[0] == "route"
    assert names[-2:] == ["usage", "done"]
    assert set(names[1:-2]) == {"delta"}
    assert answer.first("route") == {
        "provider": "anthropic",
        "model": ANTHROPIC_MODEL,
        "key_source": "platform",
        "fell_back": False,
        "auto_reason": "",
        "demo": False,
    }
    assert answer.text == "echo: hello there"
    usage = answer.first("usage")
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    assert usage["cost_usd"] > 0
    assert stack.sim.calls_for("anthropic")[-1].api_key == PLATFORM_KEYS["anthropic"]

    stored = (await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)).json()
    user_message, reply = stored["messages"]
    assert (user_message["role"], user_message["content"]) == ("user", "hello there")
    assert reply["id"] == answer.first("done")["message_id"]
    assert (reply["role"], reply["content"], reply["key_source"]) == ("assistant", answer.text, "platform")
    assert (reply["model"], reply["provider"], reply["error_type"]) == (ANTHROPIC_MODEL, "anthropic", None)
    assert reply["output_tokens"] == usage["output_tokens"]


async def test_the_second_message_sends_the_history(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    await send(stack, user, conversation, "first question")
    await send(stack, user, conversation, "second question")

    sent = stack.sim.calls_for("anthropic")[-1].json_body["messages"]
    texts = [
        (m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]) for m in sent
    ]
    assert texts == [
        ("user", "first question"),
        ("assistant", "echo: first question"),
        ("user", "second question"),
    ]


async def test_no_access_before_routing_is_a_problem_and_leaves_no_message(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    denied = await send(stack, user, conversation, "hi", model=MISTRAL_MODEL)
    assert denied.response.status_code == 403
    assert denied.response.headers["content-type"] == "application/problem+json"
    assert denied.response.json()["type"] == PROBLEMS + "no-access"
    stored = (await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)).json()
    assert stored["messages"] == []


async def test_unknown_model_and_bad_input_are_clear_4xx(stack: ChatApiStack) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    unknown = await send(stack, user, conversation, "hi", model="openai/no-such-model")
    assert unknown.response.status_code == 404
    assert unknown.response.json()["type"] == PROBLEMS + "unknown-model"
    empty = await send(stack, user, conversation, "", model=ANTHROPIC_MODEL)
    assert empty.response.status_code == 422
    bad_org = await send(stack, user, conversation, "hi", headers={"X-Switchyard-Org": "not-an-id"})
    assert bad_org.response.status_code == 400
    foreign_org = await send(
        stack, user, conversation, "hi", headers={"X-Switchyard-Org": "00000000-0000-0000-0000-000000000001"}
    )
    assert foreign_org.response.status_code == 404
    missing = await send(stack, user, "00000000-0000-0000-0000-000000000002", "hi")
    assert missing.response.status_code == 404


async def test_a_stream_that_breaks_midway_sends_an_error_and_keeps_the_partial_answer(
    stack: ChatApiStack,
) -> None:
    user = await stack.register()
    conversation = await new_conversation(stack, user)
    stack.sim.fail_next("anthropic", truncate_after_events=4)
    broken = await send(stack, user, conversation, "one two three four five six seven eight")

    assert broken.response.status_code == 200
    assert broken.names[0] == "route"
    assert "error" in broken.names
    assert "usage" not in broken.names
    error = broken.first("error")
    assert error["type"] == PROBLEMS + "provider-unavailable"
    assert error["status"] == 502
    stored = (await stack.http.get(f"/v1/conversations/{conversation}", headers=user.headers)).json()
    reply = stored["messages"][-1]
    assert reply["role"] == "assistant"
    assert reply["error_type"] == "provider-unavailable"
    assert reply["content"] == broken.text != ""
