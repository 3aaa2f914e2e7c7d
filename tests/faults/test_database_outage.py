"""Fault: chat-api's PostgreSQL connections are cut, through a TCP proxy the test controls.

While the proxy refuses connections (and has dropped the open ones) chat-api answers 503
`unavailable` — not 500, not a hang; every key whose add was acknowledged with 201, before, during
and after the cut, is in the database; after the proxy is back chat-api recovers by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import make_url

from tests.support.chat_api import User, provider_key
from tests.support.process_fixtures import Database, LaunchStack
from tests.support.process_stack import ProcessStack
from tests.support.service_processes import eventually
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow  # each starts the whole stack as processes

PROBLEMS = "https://switchyard.dev/problems/"
PROVIDERS = ("openai", "anthropic", "google", "mistral", "groq", "deepseek", "xai", "together", "openrouter")
WRITERS = 6
REQUEST_BOUND_SECONDS = 15
WRITER_BOUND_SECONDS = 60
# A fixed chat-api would give up on a silent database well within this (e.g. libpq connect_timeout=5).
PARTITION_BOUND_SECONDS = 8


@pytest.fixture
async def proxy(database: Database) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(*database.host_and_port)
    await proxy.start()
    yield proxy
    await proxy.stop()


class KeyWriter:
    """Adds keys as a client does: a 503 is retried until the add is acknowledged with 201."""

    def __init__(self, stack: ProcessStack) -> None:
        self.stack = stack
        self.acknowledged: list[str] = []
        self.statuses: list[int] = []

    async def add(self, user: User, provider: str) -> None:
        async with asyncio.timeout(WRITER_BOUND_SECONDS):
            while True:
                async with asyncio.timeout(REQUEST_BOUND_SECONDS):
                    response = await self.stack.http.post(
                        "/v1/keys",
                        json={"provider": provider, "api_key": provider_key(provider)},
                        headers=user.headers,
                    )
                self.statuses.append(response.status_code)
                if response.status_code == 201:
                    self.acknowledged.append(response.json()["id"])
                    return
                assert response.status_code == 503, response.text
                assert response.json()["type"] == PROBLEMS + "unavailable", response.text
                await asyncio.sleep(0.05)

    async def add_all(self, user: User, providers: Sequence[str]) -> None:
        for provider in providers:
            await self.add(user, provider)


async def test_database_connections_cut_and_restored(
    launch_stack: LaunchStack, database: Database, proxy: TcpProxy
) -> None:
    proxied = make_url(database.url).set(host="127.0.0.1", port=proxy.port)
    async with launch_stack(database_url=proxied.render_as_string(hide_password=False)) as stack:
        first, *users = [await stack.register() for _ in range(WRITERS + 1)]
        writer = KeyWriter(stack)
        await writer.add_all(first, PROVIDERS[:3])

        # Writers keep adding keys while the database goes away and comes back.
        writers = [asyncio.create_task(writer.add_all(user, PROVIDERS)) for user in users]
        await eventually(lambda: len(writer.acknowledged) >= 3 + WRITERS, "writers under way")
        await proxy.refuse()

        async with asyncio.timeout(REQUEST_BOUND_SECONDS):
            keys = await stack.http.get("/v1/keys", headers=first.headers)
            me = await stack.http.get("/v1/me", headers=first.headers)
        for response in (keys, me):
            assert response.status_code == 503, response.text
            assert response.json()["type"] == PROBLEMS + "unavailable"
        assert await stack.ready() == 503
        await eventually(
            lambda: writer.statuses.count(503) >= WRITERS, "writers refused while the database is away"
        )
        acknowledged_before_restore = len(writer.acknowledged)

        await proxy.restore()

        await eventually(lambda: stack.ready_is(200), "chat-api ready again")
        async with asyncio.timeout(WRITER_BOUND_SECONDS):
            await asyncio.gather(*writers)
        await writer.add_all(first, PROVIDERS[3:6])
        listed = await stack.http.get("/v1/keys", headers=first.headers)
        assert listed.status_code == 200, listed.text
        assert len(listed.json()) == 6

    assert set(writer.statuses) == {201, 503}
    assert len(writer.acknowledged) == 6 + WRITERS * len(PROVIDERS) > acknowledged_before_restore
    stored = {str(row[0]) for row in await stack.rows("SELECT id FROM credentials")}
    missing = set(writer.acknowledged) - stored
    assert not missing, f"{len(missing)} of {len(writer.acknowledged)} acknowledged keys were lost"


async def test_database_partition_answers_503_instead_of_hanging(
    launch_stack: LaunchStack, database: Database, proxy: TcpProxy
) -> None:
    proxied = make_url(database.url).set(host="127.0.0.1", port=proxy.port)
    async with launch_stack(database_url=proxied.render_as_string(hide_password=False)) as stack:
        user = await stack.register()
        await KeyWriter(stack).add(user, "openai")
        await proxy.blackhole()

        # The pooled connection was broken (that request fails at once); the new connection's
        # handshake is never answered.
        for _ in range(2):
            async with asyncio.timeout(PARTITION_BOUND_SECONDS):
                response = await stack.http.get("/v1/keys", headers=user.headers)
            assert response.status_code == 503, response.text
            assert response.json()["type"] == PROBLEMS + "unavailable"

        await proxy.restore()
        async with asyncio.timeout(REQUEST_BOUND_SECONDS):
            listed = await stack.http.get("/v1/keys", headers=user.headers)
        assert listed.status_code == 200, listed.text
        assert len(listed.json()) == 1
