"""Load: a sustained mix of chats (streamed and not, both APIs) and key additions, verifications and
revocations, for a bounded time, on the stack as processes.

Every response must be the one expected (no errors, not one), and once the load is over chat-api and
the router must be back to their footprint: resident memory and open files compared with a baseline
taken after a warm-up run of the same mix, so imports, pools and caches are already filled.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import httpx
import pytest

from switchyard_dev.provider_sim import reply_text
from tests.support.chat_api import User, provider_key
from tests.support.load import Footprint, footprint, load_client, stream_completion
from tests.support.process_fixtures import LaunchStack
from tests.support.process_stack import ProcessStack, StreamedAnswer, sse_events
from tests.support.service_processes import eventually

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "12"))
WARMUP_SECONDS = 5.0
pytestmark = [pytest.mark.slow, pytest.mark.timeout(90 + 2 * (WARMUP_SECONDS + LOAD_SECONDS))]

SETTLE_SECONDS = 2.0
TURNS_PER_CONVERSATION = 4
BYOK_MODEL = "openai/gpt-5.4-mini"  # each chat worker's own OpenAI key
PLATFORM_MODEL = "anthropic/claude-sonnet-5"  # no user key: platform access
KEYS_MODEL = "mistral/mistral-large-latest"  # no platform access: a revoked key means 403
# Bounds on what the load may leave behind, relative to the warm baseline. Memory: CPython keeps
# freed memory in its arenas and glibc in its heaps, so RSS moves a little between two runs of the
# same work (under 1 MiB measured, each service); a leak of 5 KiB per request, over the ~1,500
# requests of a 20 s run on a 2-core machine, exceeds the bound. Files: the same connections as at
# the baseline (database pool, router channel, NATS, keep-alive connections to the simulator), give
# or take a few that expire or open at a different moment; a leak of one per request exceeds it.
MAX_RSS_GROWTH_KIB = 8 * 1024
MAX_FD_GROWTH = 8


@dataclass
class Tally:
    """What the workers did: operations by name, and every unexpected answer."""

    done: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def expect(self, operation: str, got: object, expected: object) -> bool:
        self.done[operation] += 1
        if got != expected:
            self.errors.append(f"{operation}: expected {expected!r}, got {got!r}")
        return got == expected


# One unit of a worker's work, repeated until the phase ends.
Worker = Callable[[httpx.AsyncClient, Tally], Awaitable[None]]


def chat_body(model: str, prompt: str, *, stream: bool = False) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}


async def chat(http: httpx.AsyncClient, tally: Tally, *, user: User, model: str, source: str) -> None:
    response = await http.post(
        "/v1/chat/completions", json=chat_body(model, "hello there"), headers=user.headers
    )
    if tally.expect("chat", response.status_code, 200):
        tally.expect("chat key source", response.headers["x-switchyard-key-source"], source)
        text = response.json()["choices"][0]["message"]["content"]
        tally.expect("chat text", text, reply_text("hello there"))


async def streamed_chat(http: httpx.AsyncClient, tally: Tally, *, user: User) -> None:
    answer = await stream_completion(http, user, BYOK_MODEL, "stream to me")
    if tally.expect("streamed chat", (answer.status, answer.complete), (200, True)):
        tally.expect("streamed chat text", answer.text, reply_text("stream to me"))


async def conversation(http: httpx.AsyncClient, tally: Tally, *, user: User) -> None:
    """A new conversation and a few turns in it (a bounded history, as in real use)."""
    created = await http.post("/v1/conversations", json={"title": "load"}, headers=user.headers)
    if not tally.expect("conversation", created.status_code, 201):
        return
    url = f"/v1/conversations/{created.json()['id']}/messages"
    for turn in range(TURNS_PER_CONVERSATION):
        body = {"content": f"and then {turn}?", "model": PLATFORM_MODEL}
        async with http.stream("POST", url, json=body, headers=user.headers) as response:
            answer = StreamedAnswer(status=response.status_code)
            if response.status_code == 200:
                answer.events = [event async for event in sse_events(response)]
        if tally.expect("conversation turn", answer.status, 200):
            ends = (answer.names[0], answer.names[-1], "error" in answer.names)
            tally.expect("conversation events", ends, ("route", "done", False))
            tally.expect("conversation text", answer.text, reply_text(f"and then {turn}?"))


async def key_lifecycle(http: httpx.AsyncClient, tally: Tally, *, user: User) -> None:
    """Add a key, verify it, chat with it, revoke it, and find the next chat refused."""
    body = {"provider": "mistral", "api_key": provider_key("mistral")}
    added = await http.post("/v1/keys", json=body, headers=user.headers)
    if not tally.expect("key add", added.status_code, 201):
        return
    key_id = added.json()["id"]
    verified = await http.post(f"/v1/keys/{key_id}/verify", headers=user.headers)
    if tally.expect("key verify", verified.status_code, 200):
        tally.expect("key verdict", verified.json()["verdict"], "valid")
    await chat(http, tally, user=user, model=KEYS_MODEL, source="user")
    revoked = await http.delete(f"/v1/keys/{key_id}", headers=user.headers)
    tally.expect("key revoke", revoked.status_code, 204)
    refused = await http.post("/v1/chat/completions", json=chat_body(KEYS_MODEL, "hi"), headers=user.headers)
    tally.expect("chat after revoke", refused.status_code, 403)


async def mix(stack: ProcessStack) -> list[Worker]:
    """Twelve concurrent workers, each acting as its own user."""
    users = [await stack.register() for _ in range(12)]
    for user in users[:6]:
        await stack.add_key(user, "openai")
    return [
        *(partial(chat, user=user, model=BYOK_MODEL, source="user") for user in users[0:3]),
        *(partial(streamed_chat, user=user) for user in users[3:6]),
        *(partial(chat, user=user, model=PLATFORM_MODEL, source="platform") for user in users[6:8]),
        *(partial(conversation, user=user) for user in users[8:10]),
        *(partial(key_lifecycle, user=user) for user in users[10:12]),
    ]


async def run_for(seconds: float, mix: list[Worker], base_url: str) -> Tally:
    """Every worker repeats its work until `seconds` have passed; then the client is closed."""
    tally, deadline = Tally(), time.monotonic() + seconds

    async def repeat(worker: Worker, http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            try:
                await worker(http, tally)
            except httpx.HTTPError as exc:
                tally.errors.append(f"{type(exc).__name__}: {exc}")

    async with load_client(base_url, connections=2 * len(mix), timeout=30) as http:
        await asyncio.gather(*(repeat(worker, http) for worker in mix))
    return tally


async def settled(stack: ProcessStack) -> dict[str, Footprint]:
    """chat-api's and the router's footprint once nothing is in flight and a moment has passed."""
    await eventually(lambda: not stack.sim.in_flight, "no provider call in flight", timeout=60)
    await asyncio.sleep(SETTLE_SECONDS)
    return {"chat-api": footprint(stack.chat_api), "router": footprint(stack.router)}


async def test_sustained_mixed_load_without_errors_or_growth(launch_stack: LaunchStack) -> None:
    async with launch_stack() as stack:
        workers = await mix(stack)
        base_url = str(stack.http.base_url)
        warmup = await run_for(WARMUP_SECONDS, workers, base_url)
        assert warmup.errors == [], f"{len(warmup.errors)} errors in the warm-up, e.g. {warmup.errors[:5]}"
        baseline = await settled(stack)
        load = await run_for(LOAD_SECONDS, workers, base_url)
        after = await settled(stack)

    print(f"\nmixed load: {LOAD_SECONDS:.0f}s, {len(workers)} workers; {sum(load.done.values())} checks:")
    print("  " + ", ".join(f"{name} {count}" for name, count in sorted(load.done.items())))
    for name, before in baseline.items():
        print(
            f"  {name:8} RSS {before.rss_kib / 1024:.1f} -> {after[name].rss_kib / 1024:.1f} MiB,"
            f" fds {before.fds} -> {after[name].fds}"
        )
    assert load.errors == [], f"{len(load.errors)} errors, e.g. {load.errors[:5]}"
    for operation in ("chat", "streamed chat", "conversation turn", "key add", "key verify", "key revoke"):
        assert load.done[operation] > 0, f"no {operation} ran"
    for name, before in baseline.items():
        assert after[name].rss_kib - before.rss_kib <= MAX_RSS_GROWTH_KIB, f"{name} memory grew"
        assert after[name].fds - before.fds <= MAX_FD_GROWTH, f"{name} holds more open files"
