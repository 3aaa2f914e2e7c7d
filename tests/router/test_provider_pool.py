"""LinearPool decides exactly as httpcore's own pool (checked on random pool states against httpcore's
method itself), and provider clients use it for real requests."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpcore
import pytest
from httpcore._async.connection_pool import AsyncConnectionPool

from router.providers.http.client import make_client
from router.providers.pool import LinearPool

ORIGINS = [httpcore.URL(f"https://provider-{n}.example/v1").origin for n in range(2)]


@dataclass(eq=False)
class FakeConnection:
    """A connection in one of the states the pool asks about (identity is what the test compares)."""

    name: str
    origin: httpcore.Origin
    closed: bool = False
    expired: bool = False
    idle: bool = False
    available: bool = False

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self.origin


@dataclass(eq=False)
class FakeRequest:
    request: httpcore.Request
    queued: bool
    assigned: list[str] = field(default_factory=list)

    def is_queued(self) -> bool:
        return self.queued

    def assign_to_connection(self, connection: FakeConnection) -> None:
        self.assigned.append(connection.name)


def _state(seed: int) -> tuple[list[FakeConnection], list[FakeRequest], int, int]:
    rng = random.Random(seed)
    max_connections = rng.randint(1, 12)
    keepalive = rng.randint(0, max_connections)
    connections = []
    for n in range(rng.randint(0, max_connections + 2)):
        closed = rng.random() < 0.15
        idle = not closed and rng.random() < 0.5
        connections.append(
            FakeConnection(
                name=f"c{n}",
                origin=rng.choice(ORIGINS),
                closed=closed,
                expired=not closed and rng.random() < 0.15,
                idle=idle,
                available=idle or rng.random() < 0.2,
            )
        )
    requests = [
        FakeRequest(
            request=httpcore.Request("POST", httpcore.URL(str(rng.choice(ORIGINS)) + "/chat")),
            queued=rng.random() < 0.7,
        )
        for _ in range(rng.randint(0, 6))
    ]
    return connections, requests, max_connections, keepalive


def _run(pool_class: type[AsyncConnectionPool], seed: int) -> tuple[list[str], list[str], list[list[str]]]:
    connections, requests, max_connections, keepalive = _state(seed)
    pool = pool_class(max_connections=max_connections, max_keepalive_connections=keepalive)
    created = iter(range(1000))

    def create_connection(origin: httpcore.Origin) -> FakeConnection:
        return FakeConnection(name=f"new{next(created)}", origin=origin)

    pool.create_connection = create_connection  # type: ignore[method-assign,assignment]
    pool._connections = list(connections)  # type: ignore[arg-type]
    pool._requests = list(requests)  # type: ignore[arg-type]
    closing = pool._assign_requests_to_connections()
    return (
        [c.name for c in pool._connections],  # type: ignore[attr-defined]
        [c.name for c in closing],  # type: ignore[attr-defined]
        [r.assigned for r in requests],
    )


@pytest.mark.parametrize("seed", range(400))
def test_linear_pool_decides_as_httpcore_does(seed: int) -> None:
    assert _run(LinearPool, seed) == _run(AsyncConnectionPool, seed)


def test_many_idle_connections_are_trimmed_to_the_keepalive_limit_as_httpcore_would() -> None:
    # The case httpcore pays quadratically for: many streams ended at once, all idle.
    def run(pool_class: type[AsyncConnectionPool]) -> tuple[int, int]:
        pool = pool_class(max_connections=2000, max_keepalive_connections=1500)
        idle = [
            FakeConnection(name=f"c{n}", origin=ORIGINS[0], idle=True, available=True) for n in range(2000)
        ]
        pool._connections = idle  # type: ignore[assignment]
        closing = pool._assign_requests_to_connections()
        return len(pool._connections), len(closing)

    assert run(LinearPool) == run(AsyncConnectionPool) == (1500, 500)


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """A loopback HTTP/1.1 server answering every request "ok" on a kept-alive connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_provider_clients_use_the_linear_pool_for_real_requests(upstream: str) -> None:
    client = make_client(upstream, connect_timeout=5, first_byte_timeout=5, max_connections=4)
    async with client:
        pool = getattr(client._transport, "_pool", None)
        assert type(pool) is LinearPool
        replies = [await client.get("/x") for _ in range(3)]
        assert [r.text for r in replies] == ["ok"] * 3
        assert len(pool.connections) == 1  # kept alive and reused
