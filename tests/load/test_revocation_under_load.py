"""Load: a key revoked while 50 chat loops are using it, over many trials, on the stack as processes.

tests/chat_api/test_whole_story.py runs this story three times with chat-api in the test's process;
here chat-api, the router and keyvault are real processes and the trials are many (LOAD_TRIALS,
default 10). The guarantee under test (docs/revocation.md): once DELETE has returned, no provider
call with the key starts. The simulator records when each call started, on this process's clock,
so "after the DELETE returned" is measured from the moment the 204 was read here, which is no
earlier than the moment chat-api sent it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import httpx
import pytest

from tests.support.chat_api import User, provider_key
from tests.support.load import stream_completion
from tests.support.process_fixtures import LaunchStack
from tests.support.process_stack import ProcessStack

TRIALS = int(os.environ.get("LOAD_TRIALS", "10"))
TRIAL_SECONDS = 60.0  # a bound on one trial, far above what one takes
pytestmark = [pytest.mark.slow, pytest.mark.timeout(90 + 20 * TRIALS)]

LOOPS = 50
CALLS_BEFORE_DELETE = LOOPS  # provider calls with the key before it is revoked, per trial
CHATS_AFTER_DELETE = LOOPS  # chats sent after the DELETE returned, per trial
MODEL = "openai/gpt-5.4-mini"  # OpenAI has platform access: after the DELETE chats fall back to it


async def _chat(stack: ProcessStack, user: User, streamed: bool) -> tuple[str | None, str]:
    """One chat: (what went wrong, or None; the key source of the answer, "user" or "platform")."""
    if streamed:
        answer = await stream_completion(stack.http, user, MODEL, "are you there")
        return (None if answer.complete else f"stream {answer!r}"), answer.key_source
    response = await stack.complete(user, MODEL, "are you there")
    failure = None if response.status_code == 200 else f"status {response.status_code}: {response.text}"
    return failure, response.headers.get("x-switchyard-key-source", "")


# (when the request was sent, the key source of its answer)
Answers = list[tuple[float, str]]


async def _chat_loop(
    stack: ProcessStack, user: User, streamed: bool, stop: asyncio.Event, answers: Answers
) -> list[str]:
    """Chat until `stop`, recording each answer in `answers`; the failures are returned."""
    failures: list[str] = []
    while not stop.is_set():
        sent = time.monotonic()
        try:
            failure, source = await _chat(stack, user, streamed)
        except httpx.HTTPError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        if failure is not None:
            failures.append(failure)
        answers.append((sent, source))
    return failures


async def _tick(what: str, deadline: float) -> None:
    assert time.monotonic() < deadline, f"trial took over {TRIAL_SECONDS}s waiting for {what}"
    await asyncio.sleep(0.01)


async def _trial(stack: ProcessStack, user: User) -> tuple[int, int, int]:
    """One revocation under load: (calls with the key before DELETE returned, chats after, late calls)."""
    secret = provider_key("openai")
    key = await stack.add_key(user, "openai", secret)
    deadline = time.monotonic() + TRIAL_SECONDS
    stop, answers = asyncio.Event(), Answers()
    loops = [
        asyncio.create_task(_chat_loop(stack, user, number % 2 == 0, stop, answers))
        for number in range(LOOPS)
    ]
    try:
        while stack.provider_calls_with("openai", secret) < CALLS_BEFORE_DELETE:
            await _tick(f"{CALLS_BEFORE_DELETE} calls with the key", deadline)
        response = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
        returned_at = time.monotonic()
        assert response.status_code == 204, response.text
        while sum(1 for sent, _ in answers if sent > returned_at) < CHATS_AFTER_DELETE:
            await _tick(f"{CHATS_AFTER_DELETE} chats sent after the DELETE returned", deadline)
    finally:
        stop.set()
        failures = [failure for loop in await asyncio.gather(*loops) for failure in loop]
    assert failures == [], f"{len(failures)} chats failed, e.g. {failures[:5]}"
    assert "user" in {source for _, source in answers}
    # What a user sees of the guarantee: every chat sent after the DELETE returned ran on platform access.
    sent_after = [source for sent, source in answers if sent > returned_at]
    assert set(sent_after) == {"platform"}, Counter(sent_after)
    total = stack.provider_calls_with("openai", secret)
    late = stack.provider_calls_with("openai", secret, started_after=returned_at)
    return total - late, len(sent_after), late


async def test_no_provider_call_with_a_revoked_key_starts_after_delete_returned(
    launch_stack: LaunchStack,
) -> None:
    async with launch_stack() as stack:
        user = await stack.register()
        outcomes = [await _trial(stack, user) for _ in range(TRIALS)]

    late = [trial_late for _, _, trial_late in outcomes]
    print(
        f"\nrevocation under load: {TRIALS} trials x {LOOPS} chat loops;"
        f" provider calls with the key before DELETE returned {sum(before for before, _, _ in outcomes)},"
        f" chats sent after it {sum(after for _, after, _ in outcomes)},"
        f" calls with the key started after it {sum(late)} (per trial {late})"
    )
    assert late == [0] * TRIALS
