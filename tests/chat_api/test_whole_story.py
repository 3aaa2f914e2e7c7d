"""The story users come for, end to end on the real stack: add a key, chat through it, chat with a
provider you have no key for, revoke, and never see the revoked key used again — also while chats
are running concurrently with the DELETE."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.chat_api import ChatApiStack, User, provider_key
from tests.support.router import PLATFORM_KEYS
from tests.support.service_processes import eventually

OPENAI_MODEL = "openai/gpt-5.4-mini"
ANTHROPIC_MODEL = "anthropic/claude-sonnet-5"
MISTRAL_MODEL = "mistral/mistral-large-latest"
WAIT_SECONDS = 60.0  # each wait of the concurrent trial; the chats answer in milliseconds


async def complete(stack: ChatApiStack, user: User, model: str, text: str = "hello") -> Any:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return await stack.http.post("/v1/chat/completions", json=body, headers=user.headers)


async def test_add_chat_revoke_falls_back_to_platform_and_never_reuses_the_key(stack: ChatApiStack) -> None:
    user = await stack.register()
    secret = provider_key("openai")
    key = await stack.add_key(user, "openai", secret)

    mine = await complete(stack, user, OPENAI_MODEL)
    assert mine.status_code == 200, mine.text
    assert mine.headers["x-switchyard-provider"] == "openai"
    assert mine.headers["x-switchyard-model"] == OPENAI_MODEL
    assert mine.headers["x-switchyard-key-source"] == "user"
    assert stack.sim.calls_for("openai")[-1].api_key == secret

    theirs = await complete(stack, user, ANTHROPIC_MODEL)
    assert theirs.status_code == 200, theirs.text
    assert theirs.headers["x-switchyard-key-source"] == "platform"
    assert stack.sim.calls_for("anthropic")[-1].api_key == PLATFORM_KEYS["anthropic"]

    revoked = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
    assert revoked.status_code == 204
    after = await complete(stack, user, OPENAI_MODEL)
    assert after.status_code == 200, after.text
    assert after.headers["x-switchyard-key-source"] == "platform"
    assert stack.sim.calls_for("openai")[-1].api_key == PLATFORM_KEYS["openai"]
    for body in (mine.text, theirs.text, after.text, revoked.text):
        assert secret not in body


async def test_without_platform_access_a_revoked_key_means_no_access(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "mistral")
    model = MISTRAL_MODEL
    ok = await complete(stack, user, model)
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-switchyard-key-source"] == "user"

    assert (await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)).status_code == 204
    denied = await complete(stack, user, model)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "no_access"


async def _chat_loop(stack: ChatApiStack, user: User, stop: asyncio.Event, sources: list[str]) -> None:
    while not stop.is_set():
        response = await complete(stack, user, OPENAI_MODEL)
        assert response.status_code == 200, response.text
        sources.append(response.headers["x-switchyard-key-source"])


def _loops_running(loops: list[asyncio.Task[None]]) -> bool:
    """True while no chat loop has stopped; a loop that failed fails the wait with its own error."""
    for loop in loops:
        if loop.done():
            loop.result()  # raises the loop's assertion
            raise AssertionError("a chat loop stopped before it was told to")
    return True


async def _trial(stack: ChatApiStack, user: User) -> None:
    """50 chat loops on a new key; DELETE it once they use it; no call with it may start after."""
    secret = provider_key("openai")
    key = await stack.add_key(user, "openai", secret)
    stop, sources = asyncio.Event(), list[str]()
    loops = [asyncio.create_task(_chat_loop(stack, user, stop, sources)) for _ in range(50)]
    await eventually(
        lambda: (
            _loops_running(loops)
            and sum(1 for call in stack.sim.calls_for("openai") if call.api_key == secret) >= 50
        ),
        "50 provider calls with the key before its DELETE",
        timeout=WAIT_SECONDS,
    )
    response = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
    returned_at = time.monotonic()
    assert response.status_code == 204
    served_after = len(sources)
    await eventually(
        lambda: _loops_running(loops) and len(sources) >= served_after + 100,
        "100 chats answered after the DELETE returned",
        timeout=WAIT_SECONDS,
    )
    stop.set()
    async with asyncio.timeout(WAIT_SECONDS):  # each loop ends after its chat in flight
        await asyncio.gather(*loops)

    calls = stack.sim.calls_for("openai")
    late = [c for c in calls if c.api_key == secret and c.started_at > returned_at]
    assert late == [], f"{len(late)} provider calls started with the revoked key after DELETE returned"
    assert "user" in sources
    assert sources[-1] == "platform"


async def test_no_provider_call_with_a_key_starts_after_its_delete_returned(stack: ChatApiStack) -> None:
    """50 chat loops use the key while it is revoked; repeated over several trials."""
    user = await stack.register()
    for _trial_number in range(3):
        await _trial(stack, user)
