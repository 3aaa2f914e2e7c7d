"""Load: a thousand streaming chats open at the same moment through one chat-api and one router.

The simulator holds every answer after its first token (`hold_after_events`) until all of them are
open, then lets them all go on at once. The figure printed is what an open stream costs: chat-api's
and the router's resident memory while all are open, minus what it was just before, per stream.
Every stream must then finish, complete and with its own answer. LOAD_STREAMS changes the count.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from functools import partial

import httpx
import pytest

from switchyard_dev.provider_sim import reply_text
from tests.support.chat_api import User, provider_key
from tests.support.load import (
    CompletionStream,
    Footprint,
    cpu_seconds,
    footprint,
    load_client,
    open_files_limit,
    stream_completion,
)
from tests.support.process_fixtures import LaunchStack
from tests.support.process_stack import ProcessStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

STREAMS = int(os.environ.get("LOAD_STREAMS", "1000"))
USERS = 10  # each with its own OpenAI key
MODEL = "openai/gpt-5.4-mini"
HOLD_AFTER_EVENTS = 2  # the role chunk and the first token: text is flowing through both services
OPEN_WITHIN_SECONDS = 150.0
# A sanity bound, not a target: a MiB per open stream across the two services would mean buffers
# or tasks kept per stream that should not be (about 120 KiB measured, see the printout).
MAX_KIB_PER_STREAM = 1024

# A held stream sits idle at the router until the last one has opened, so the provider timeouts
# are production-like instead of the suite's short ones. The router holds one provider connection
# per open stream: its per-provider pool (ROUTER_MAX_CONNECTIONS_PER_PROVIDER, 200 by default) must
# admit them all, or the rest wait for a free connection and fail after the connect timeout.
ROUTER_SETTINGS: dict[str, object] = {
    "max_connections_per_provider": STREAMS + 100,
    "first_byte_timeout_seconds": 60,
    "stream_idle_timeout_seconds": OPEN_WITHIN_SECONDS,
}

Footprints = dict[str, Footprint]


def _prompt(number: int) -> str:
    return f"stream {number} of {STREAMS}"


async def _users_with_keys(stack: ProcessStack) -> list[tuple[User, str]]:
    owners = []
    for _ in range(USERS):
        user, secret = await stack.register(), provider_key("openai")
        await stack.add_key(user, "openai", secret)
        owners.append((user, secret))
    return owners


def _footprints(stack: ProcessStack) -> Footprints:
    return {"chat-api": footprint(stack.chat_api), "router": footprint(stack.router)}


def _check_open_files_limits(stack: ProcessStack) -> None:
    """This process holds two sockets per stream (client, simulator); each service one or more."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft > 2 * STREAMS + 500, f"this process may open only {soft} files"
    for service in (stack.chat_api, stack.router):
        assert open_files_limit(service) == soft, f"{service.module} did not inherit the limit"


async def _all_open(
    stack: ProcessStack, opened: list[int], streams: list[asyncio.Task[CompletionStream]]
) -> None:
    """Until every stream has shown text and is held at the simulator; fail if one ends first."""
    deadline = time.monotonic() + OPEN_WITHIN_SECONDS
    while not (len(opened) == STREAMS and stack.sim.held == STREAMS):
        ended = [stream for stream in streams if stream.done()]
        assert not ended, f"{len(ended)} streams ended while held, e.g. {ended[0].result()!r}"
        assert time.monotonic() < deadline, (
            f"only {len(opened)} streams open ({stack.sim.held} held) after {OPEN_WITHIN_SECONDS}s"
        )
        await asyncio.sleep(0.1)


def _start_streams(
    http: httpx.AsyncClient, owners: list[tuple[User, str]], opened: list[int]
) -> list[asyncio.Task[CompletionStream]]:
    return [
        asyncio.create_task(
            stream_completion(
                http,
                owners[number % USERS][0],
                MODEL,
                _prompt(number),
                on_first_text=partial(opened.append, number),
            )
        )
        for number in range(STREAMS)
    ]


def _check_answers(
    answers: list[CompletionStream | BaseException], stack: ProcessStack, owners: list[tuple[User, str]]
) -> None:
    failures = [
        answer for answer in answers if not isinstance(answer, CompletionStream) or not answer.complete
    ]
    assert failures == [], f"{len(failures)} of {STREAMS} streams failed, e.g. {failures[:3]!r}"
    complete = [answer for answer in answers if isinstance(answer, CompletionStream)]
    wrong = [number for number, answer in enumerate(complete) if answer.text != reply_text(_prompt(number))]
    assert wrong == [], f"{len(wrong)} streams got another answer than their own, e.g. {wrong[:5]}"
    assert {answer.key_source for answer in complete} == {"user"}
    for index, (_, secret) in enumerate(owners):
        streams_of_owner = len(range(index, STREAMS, USERS))
        assert stack.provider_calls_with("openai", secret) == 1 + streams_of_owner  # and the warm-up


async def test_a_thousand_concurrent_streams(launch_stack: LaunchStack) -> None:
    async with launch_stack(router_settings=ROUTER_SETTINGS) as stack:
        _check_open_files_limits(stack)
        owners = await _users_with_keys(stack)
        base_url = str(stack.http.base_url)
        async with load_client(base_url, connections=STREAMS + 50, timeout=OPEN_WITHIN_SECONDS + 60) as http:
            # Warm-up: every key decrypted and cached, every code path imported and run once.
            warm = await asyncio.gather(
                *(stream_completion(http, user, MODEL, "warm up") for user, _ in owners)
            )
            assert all(answer.complete for answer in warm), warm
            before = _footprints(stack)

            stack.sim.fail_next("openai", hold_after_events=HOLD_AFTER_EVENTS, times=STREAMS)
            opened: list[int] = []
            started = time.monotonic()
            streams = _start_streams(http, owners, opened)
            try:
                await _all_open(stack, opened, streams)
            except BaseException:
                for stream in streams:
                    stream.cancel()
                await asyncio.gather(*streams, return_exceptions=True)
                raise
            opened_after = time.monotonic() - started
            during = _footprints(stack)
            cpu_before = {"chat-api": cpu_seconds(stack.chat_api), "router": cpu_seconds(stack.router)}
            assert stack.sim.release_held() == STREAMS
            answers = await asyncio.gather(*streams, return_exceptions=True)
            finished_after = time.monotonic() - started
            cpu = {"chat-api": cpu_seconds(stack.chat_api), "router": cpu_seconds(stack.router)}

    _check_answers(answers, stack, owners)
    per_stream = sum(during[name].rss_kib - before[name].rss_kib for name in before) / STREAMS
    print(f"\n{STREAMS} streams open at once after {opened_after:.1f}s, complete after {finished_after:.1f}s")
    for name in before:
        print(
            f"  {name:8} RSS {before[name].rss_kib / 1024:.1f} -> {during[name].rss_kib / 1024:.1f} MiB"
            f" ({(during[name].rss_kib - before[name].rss_kib) / STREAMS:.1f} KiB per open stream),"
            f" fds {before[name].fds} -> {during[name].fds},"
            f" CPU from release to the end {cpu[name] - cpu_before[name]:.1f}s"
        )
    print(f"  chat-api + router: {per_stream:.1f} KiB per open stream")
    # Every stream held its own connection at both hops while open: a client socket in chat-api,
    # a provider connection in the router.
    assert during["chat-api"].fds >= STREAMS
    assert during["router"].fds >= STREAMS
    assert per_stream < MAX_KIB_PER_STREAM, f"{per_stream:.0f} KiB per open stream"
