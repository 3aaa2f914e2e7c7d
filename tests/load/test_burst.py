"""Load: a burst of chats larger than chat-api's database pool and its worker threads together.

A chat with a user key holds a pooled connection (the lease's KEY SHARE lock) until the router
reports the route, and ending the lease is a round trip in a worker thread. When the burst has
every worker thread waiting for a pooled connection, and every connection is held by a lease
waiting to be ended, the ends must still run: before chat-api kept threads for them alone, nothing
moved until the pool's 30 s checkout timeout answered 500s (found by the thousand-streams test).
Here a slow first byte keeps each lease open long enough for the burst to pile up behind it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.chat_api import provider_key
from tests.support.load import load_client
from tests.support.process_fixtures import LaunchStack

pytestmark = pytest.mark.slow

CHATS = 60  # more than the 40 worker threads of anyio's default limiter plus the pool's 2
CHAT_API_SETTINGS: dict[str, object] = {
    "database_pool_size": 2,
    "database_max_overflow": 0,
    "auth_cache_seconds": 120,  # authenticated once: the burst needs the pool only for its leases
}
FIRST_BYTE_DELAY_SECONDS = 0.2
MODEL = "openai/gpt-5.4-mini"


async def test_a_burst_beyond_the_pool_and_the_threads_is_served(launch_stack: LaunchStack) -> None:
    async with launch_stack(chat_api_settings=CHAT_API_SETTINGS) as stack:
        user, secret = await stack.register(), provider_key("openai")
        await stack.add_key(user, "openai", secret)
        assert (await stack.complete(user, MODEL)).status_code == 200
        stack.sim.fail_next("openai", delay_first_byte=FIRST_BYTE_DELAY_SECONDS, times=CHATS)
        started = time.monotonic()
        async with load_client(str(stack.http.base_url), connections=CHATS, timeout=60) as http:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
            answers = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=body, headers=user.headers) for _ in range(CHATS))
            )
        elapsed = time.monotonic() - started

    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * CHATS, [answer.text for answer in answers if answer.status_code != 200][:3]
    assert {answer.headers["x-switchyard-key-source"] for answer in answers} == {"user"}
    assert stack.provider_calls_with("openai", secret) == 1 + CHATS
    print(f"\nburst: {CHATS} chats through a pool of 2 connections in {elapsed:.1f}s")
