"""The provider clients' network I/O: httpcore's connection pool over plain asyncio protocols.

httpcore reaches asyncio through anyio by default, and anyio pays per read for a cancel scope, a
resume/pause of the socket's reader (two epoll_ctl calls) and an Event, and per request for
building a dict of socket attributes for every pooled connection it checks for staleness. At
a streaming chunk every couple of milliseconds that is a large share of the CPU per chunk. Here a
connection is one asyncio protocol that reads continuously into a buffer, so a read with data
waiting returns at once, and "has the server hung up on this idle connection" is "is anything
buffered, or did the peer close" with no system call.

Errors and timeouts are httpcore's own types, raised exactly where anyio's backend raises them
(ConnectTimeout/ConnectError on connect and TLS, ReadTimeout/ReadError, WriteTimeout/WriteError),
so httpx maps them as before.
"""

# ruff: noqa: ASYNC109  # the `timeout` parameters are httpcore's network-backend interface

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["AsyncioBackend", "AsyncioStream", "use_asyncio_backend"]

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
# Stop reading from the socket while this much is buffered and unread (TCP flow control takes over).
READ_BUFFER_LIMIT = 256 * 1024


def use_asyncio_backend(client: httpx.AsyncClient) -> None:
    """Give the client's own connection pool an `AsyncioBackend` (proxy mounts keep theirs).

    httpx has no parameter for a network backend, so this reaches into the transport it built; if
    a future httpx is shaped differently, nothing changes and the pool keeps its own backend.
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool):
        pool._network_backend = AsyncioBackend()


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP (and TLS on top, via `start_tls`) connections as `AsyncioStream`s."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        return await _connect(
            lambda protocol: loop.create_connection(lambda: protocol, host, port, local_addr=local),
            timeout,
            socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        return await _connect(
            lambda protocol: loop.create_unix_connection(lambda: protocol, path), timeout, socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


Opener = Callable[["_Protocol"], Awaitable[tuple[asyncio.Transport, Any]]]


async def _connect(
    open_connection: Opener, timeout: float | None, socket_options: Iterable[SocketOption] | None
) -> AsyncioStream:
    protocol = _Protocol()
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await open_connection(protocol)
    except TimeoutError as exc:  # before OSError, of which it is a subclass (as in httpcore)
        raise httpcore.ConnectTimeout(str(exc)) from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    try:
        for option in socket_options or ():
            transport.get_extra_info("socket").setsockopt(*option)
    except OSError as exc:
        transport.abort()
        raise httpcore.ConnectError(str(exc)) from exc
    return AsyncioStream(transport, protocol)


class _Protocol(asyncio.Protocol):
    """Buffers what arrives and wakes the one reader (HTTP/1.1: one request at a time)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.read_waiter: asyncio.Future[None] | None = None
        self.write_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.use(transport)

    def use(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        # As anyio does: a write waits until the kernel took every byte, so the write timeout
        # bounds sending the request rather than only queueing it.
        transport.set_write_buffer_limits(0)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= READ_BUFFER_LIMIT and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        _wake(self.read_waiter)

    def eof_received(self) -> bool:
        self.eof = True
        _wake(self.read_waiter)
        return False  # close the transport: an HTTP/1.1 peer that stopped sending is done with us

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        _wake(self.read_waiter)
        _wake(self.write_waiter)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        _wake(self.write_waiter)


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            protocol.read_waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await protocol.read_waiter
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(str(exc)) from exc
            finally:
                protocol.read_waiter = None
        if protocol.buffer:
            if len(protocol.buffer) <= max_bytes:
                data = bytes(protocol.buffer)
                protocol.buffer.clear()
            else:
                data = bytes(protocol.buffer[:max_bytes])
                del protocol.buffer[:max_bytes]
            if protocol.reading_paused and len(protocol.buffer) < READ_BUFFER_LIMIT:
                protocol.reading_paused = False
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error)) from protocol.error
        return b""  # the peer closed: httpcore decides whether the response was complete

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError(str(protocol.error or "the connection is closed"))
        self._transport.write(buffer)
        if protocol.writing_paused:
            protocol.write_waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await protocol.write_waiter
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(str(exc)) from exc
            finally:
                protocol.write_waiter = None
            if protocol.error is not None:
                raise httpcore.WriteError(str(protocol.error)) from protocol.error

    async def aclose(self) -> None:
        self._transport.abort()  # as anyio does: a discarded connection owes nobody its unsent bytes

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.abort()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        if tls is None:  # the connection closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._protocol.use(tls)
        return AsyncioStream(tls, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # On an idle connection anything buffered, or the peer's close, means it is stale.
            return bool(self._protocol.buffer) or self._protocol.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None
