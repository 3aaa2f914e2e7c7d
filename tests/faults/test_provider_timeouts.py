"""Fault: a provider that is slow to answer or hangs mid-stream.

The router's first-byte and stream-idle timeouts (3 s and 1 s in tests) fire, the user gets a clean
502 `provider-unavailable` (or an `error` event once the answer has started streaming), the broken
answer is stored with its error mark, the provider connection is given up, and the next request
is served normally.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.process_stack import ProcessStack
from tests.support.service_processes import eventually

pytestmark = pytest.mark.slow  # each starts the whole stack as processes

PROBLEMS = "https://switchyard.dev/problems/"
OPENAI_MODEL = "openai/gpt-5.4-mini"
ANTHROPIC_MODEL = "anthropic/claude-sonnet-5"
GOOGLE_MODEL = "google/gemini-3.8-flash"
# Each bound is well past the router's timeout, so only the router can be what ends the wait.
HANG_SECONDS = 30
REQUEST_BOUND_SECONDS = 20


async def test_slow_and_hanging_providers_end_in_clean_errors(process_stack: ProcessStack) -> None:
    stack = process_stack
    sim = stack.sim
    user = await stack.register()
    conversation_stalls = await stack.new_conversation(user)
    conversation_slow = await stack.new_conversation(user)
    sim.fail_next("openai", delay_first_byte=HANG_SECONDS)
    sim.fail_next("anthropic", stall_after_events=6)  # start, block, ping, 3 deltas
    sim.fail_next("google", delay_first_byte=HANG_SECONDS)

    async with asyncio.timeout(REQUEST_BOUND_SECONDS):
        slow_completion, stalled, slow_stream = await asyncio.gather(
            stack.complete(user, OPENAI_MODEL),
            stack.send_message(user, conversation_stalls, "tell me a long story please", ANTHROPIC_MODEL),
            stack.send_message(user, conversation_slow, "anyone there", GOOGLE_MODEL),
        )

    # First byte never came, nothing was sent yet: an ordinary error response.
    assert slow_completion.status_code == 502, slow_completion.text
    assert slow_completion.json()["error"]["code"] == "provider_unavailable"
    assert slow_stream.status == 502, slow_stream.body
    assert slow_stream.events == []
    assert json.loads(slow_stream.body)["type"] == PROBLEMS + "provider-unavailable"

    # The stream started, then went silent: it ends with an error event, the partial text kept.
    assert stalled.status == 200
    assert stalled.names[0] == "route"
    assert "delta" in stalled.names
    assert stalled.names[-2:] == ["error", "done"], stalled.names
    assert stalled.last("error")["type"] == PROBLEMS + "provider-unavailable"
    assert "usage" not in stalled.names
    detail = await stack.http.get(f"/v1/conversations/{conversation_stalls}", headers=user.headers)
    assert detail.status_code == 200, detail.text
    answer = detail.json()["messages"][-1]
    assert answer["id"] == stalled.last("done")["message_id"]
    assert answer["role"] == "assistant"
    assert answer["content"] == stalled.text
    assert answer["error_type"] == "provider-unavailable"

    # The router gave the provider connections up instead of holding them open.
    def abandoned() -> bool:
        calls = [sim.calls_for(provider)[-1] for provider in ("openai", "anthropic", "google")]
        return all(call.disconnected for call in calls)

    await eventually(abandoned, "the router closed every timed-out provider connection")
    assert sim.in_flight == 0

    # Nothing is wedged: the same providers answer the next requests normally.
    after = await stack.complete(user, OPENAI_MODEL)
    assert after.status_code == 200, after.text
    again = await stack.send_message(user, conversation_stalls, "and now?", ANTHROPIC_MODEL)
    assert again.status == 200
    assert again.names[-1] == "done"
    assert "error" not in again.names
