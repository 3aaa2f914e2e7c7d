"""The provider network backend: asyncio protocols under httpcore's pool, same errors, stale checks."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpcore
import httpx
import pytest

from router.providers.http.client import make_client
from router.providers.transport import AsyncioBackend, AsyncioStream
from tests.support.ports import free_port

if TYPE_CHECKING:
    from tests.support.keyvault import TestPki


LARGE = 4 << 20


@pytest.fixture
async def hang_up() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A loopback server that closes each connection once the returned event is set."""
    close = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await close.wait()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, close
    finally:
        close.set()
        server.close()
        await server.wait_closed()


def test_provider_clients_pool_through_the_asyncio_backend() -> None:
    client = make_client("http://127.0.0.1:1", connect_timeout=1, first_byte_timeout=1, max_connections=4)
    pool = getattr(client._transport_for_url(httpx.URL("http://127.0.0.1:1/x")), "_pool", None)
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert isinstance(pool._network_backend, AsyncioBackend)


def test_proxies_from_the_environment_still_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    client = make_client("http://127.0.0.1:1", connect_timeout=1, first_byte_timeout=1, max_connections=4)
    proxied = client._transport_for_url(httpx.URL("http://127.0.0.1:1/x"))
    assert proxied is not client._transport
    assert isinstance(getattr(client._transport, "_pool", None), httpcore.AsyncConnectionPool)


async def test_an_idle_connection_turns_readable_when_the_server_hangs_up(
    hang_up: tuple[int, asyncio.Event],
) -> None:
    port, close = hang_up
    stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    try:
        assert isinstance(stream, AsyncioStream)
        assert stream.get_extra_info("socket") is not None
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
        assert stream.get_extra_info("is_readable") is False
        close.set()
        async with asyncio.timeout(5):
            while not stream.get_extra_info("is_readable"):
                await asyncio.sleep(0.01)
        assert await stream.read(100, timeout=5) == b""
    finally:
        await stream.aclose()
    assert stream.get_extra_info("is_readable") is True, "a closed connection reads as stale"


async def test_tls_keeps_the_cached_socket_and_the_tls_details(test_pki: TestPki) -> None:
    server_files = test_pki.files["keyvault"]  # any certificate valid for localhost
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(server_files.cert, server_files.key)
    close = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await reader.readexactly(4) == b"ping":
            writer.write(b"pong")
            await writer.drain()
        await asyncio.sleep(0.05)  # the client's large write fills the buffers before this reads
        if len(await reader.readexactly(LARGE)) == LARGE:
            writer.write(b"ok")
            await writer.drain()
        await close.wait()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    backend = AsyncioBackend()
    tcp = await backend.connect_tcp("127.0.0.1", port, timeout=5)
    try:
        client_tls = ssl.create_default_context(cafile=str(test_pki.ca_path))
        stream = await tcp.start_tls(client_tls, server_hostname="localhost", timeout=5)
        assert isinstance(stream, AsyncioStream)
        assert stream.get_extra_info("socket").fileno() == tcp.get_extra_info("socket").fileno()
        assert isinstance(stream.get_extra_info("ssl_object"), ssl.SSLObject)
        await stream.write(b"ping", timeout=5)
        assert await stream.read(4, timeout=5) == b"pong"
        await stream.write(b"x" * LARGE, timeout=5)  # waits while the peer is slow to read
        assert await stream.read(2, timeout=5) == b"ok"
        assert stream.get_extra_info("is_readable") is False
        close.set()
        async with asyncio.timeout(5):
            while not stream.get_extra_info("is_readable"):
                await asyncio.sleep(0.01)
        await stream.aclose()
    finally:
        close.set()
        server.close()
        await server.wait_closed()


async def test_connect_and_read_failures_are_httpcores_own_types(hang_up: tuple[int, asyncio.Event]) -> None:
    backend = AsyncioBackend()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", free_port(), timeout=5)
    with pytest.raises(httpcore.ConnectTimeout):
        # Resolving a name takes a trip through the executor: longer than no time at all.
        await backend.connect_tcp("localhost", hang_up[0], timeout=0)
    port, close = hang_up
    stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
    try:
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0.05)
        close.set()
        assert await stream.read(100, timeout=5) == b"", "the peer's close reads as the end"
    finally:
        await stream.aclose()


async def test_a_large_body_is_read_whole_through_flow_control() -> None:
    body = bytes(range(256)) * 8192  # 2 MiB: several times the read buffer limit

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        stream = await AsyncioBackend().connect_tcp(
            "127.0.0.1", server.sockets[0].getsockname()[1], timeout=5
        )
        received = bytearray()
        while chunk := await stream.read(65536, timeout=5):
            received += chunk
        await stream.aclose()
    finally:
        server.close()
        await server.wait_closed()
    assert received == body
