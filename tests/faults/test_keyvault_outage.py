"""Fault: keyvault is killed (SIGKILL) under load and started again on the same port.

With a 1 s key cache, bring-your-own-key chats answer 503 `key-service-unavailable` once the
cached key has expired; platform-access chats, which need no key from keyvault, keep answering
200 throughout; after keyvault is back, BYOK chats work again with neither router nor chat-api
restarted.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.chat_api import User, provider_key
from tests.support.process_fixtures import LaunchStack
from tests.support.process_stack import ProcessStack
from tests.support.service_processes import ServiceProcess, eventually

pytestmark = pytest.mark.slow  # each starts the whole stack as processes

BYOK_MODEL = "mistral/mistral-large-latest"  # no platform key for mistral: only the user's key serves it
PLATFORM_MODEL = "openai/gpt-5.4-mini"
ROUTER_SETTINGS: dict[str, object] = {"key_cache_ttl_seconds": 1, "keyvault_timeout_seconds": 1}


async def platform_loop(stack: ProcessStack, user: User, stop: asyncio.Event, seen: list[int]) -> None:
    while not stop.is_set():
        seen.append((await stack.complete(user, PLATFORM_MODEL)).status_code)


def pids(*services: ServiceProcess) -> list[int | None]:
    return [service.process.pid if service.process else None for service in services]


def outcome(response: httpx.Response) -> str:
    """`ok` for a 200 served with the user's key, else the OpenAI-style error code."""
    if response.status_code == 200:
        assert response.headers["x-switchyard-key-source"] == "user"
        return "ok"
    code: str = response.json()["error"]["code"]
    return f"{response.status_code} {code}"


async def test_keyvault_killed_and_restarted_under_load(launch_stack: LaunchStack) -> None:
    async with launch_stack(router_settings=ROUTER_SETTINGS) as stack:
        byok, platform = await stack.register(), await stack.register()
        secret = provider_key("mistral")
        await stack.add_key(byok, "mistral", secret)
        assert outcome(await stack.complete(byok, BYOK_MODEL)) == "ok"
        others = pids(stack.router, stack.chat_api)

        stop, platform_statuses = asyncio.Event(), list[int]()
        load = asyncio.create_task(platform_loop(stack, platform, stop, platform_statuses))
        try:
            stack.keyvault.kill()
            served_before_outage = len(platform_statuses)
            byok_outcomes: list[str] = []

            async def refused() -> bool:
                byok_outcomes.append(outcome(await stack.complete(byok, BYOK_MODEL)))
                return byok_outcomes[-1] != "ok"

            # Served from the cache until the entry expires (1 s), then refused with a clean 503.
            await eventually(refused, "BYOK refused once the cached key expired")
            for _ in range(3):
                byok_outcomes.append(outcome(await stack.complete(byok, BYOK_MODEL)))
            refusals = [o for o in byok_outcomes if o != "ok"]
            assert set(refusals) == {"503 key_service_unavailable"}, byok_outcomes
            assert len(refusals) == 4
            served_during_outage = len(platform_statuses)
            assert served_during_outage > served_before_outage

            await stack.keyvault.start()
            recovered: list[str] = []

            async def works() -> bool:
                recovered.append(outcome(await stack.complete(byok, BYOK_MODEL)))
                return recovered[-1] == "ok"

            await eventually(works, "BYOK served again after keyvault came back")
            assert set(recovered) <= {"ok", "503 key_service_unavailable"}, recovered
            for _ in range(3):
                assert outcome(await stack.complete(byok, BYOK_MODEL)) == "ok"
            await eventually(lambda: len(platform_statuses) > served_during_outage, "platform served after")
        finally:
            stop.set()
            await load

        assert set(platform_statuses) == {200}
        assert stack.sim.keys_seen("mistral") == {secret}
        assert pids(stack.router, stack.chat_api) == others
