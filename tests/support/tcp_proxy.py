"""A TCP proxy a test controls, for cutting a service off from a dependency (e.g. PostgreSQL).

It listens on one loopback port for its whole life and forwards every connection to the target:

- `refuse()` closes the listening socket and breaks every open connection, so connects fail at
  once with "connection refused" and open connections end mid-query (the database went away);
- `cut()` only breaks the open connections (e.g. a database restart or a failover);
- `blackhole()` breaks the open connections and then accepts new ones but never answers them (the
  database's address is unreachable without being refused, as in a partition);
- `restore()` forwards again on the same port, breaking the connections a blackhole held.

It runs as tasks on the current event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

__all__ = ["TcpProxy"]

_CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._blackholing = False

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the proxy has not been started")
        return self._port

    @property
    def open_links(self) -> int:
        return len(self._links)

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after `refuse()`)."""
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port or 0))
        self._port = int(sock.getsockname()[1])
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def restore(self) -> None:
        """Forward again: listen if refusing, end a blackhole (breaking the connections it held)."""
        if self._blackholing:
            self._blackholing = False
            await self.cut()
        await self.start()

    async def refuse(self) -> None:
        """Stop listening and break every open connection: connects are refused from now on."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self.cut()
        if server is not None:
            await server.wait_closed()

    async def cut(self) -> None:
        """Break every open connection (both ends see it reset); keep listening."""
        links = list(self._links)
        for link in links:
            link.cancel()
        await asyncio.gather(*links, return_exceptions=True)

    async def blackhole(self) -> None:
        """Break the open connections; from now on accept new ones but never answer them."""
        self._blackholing = True
        await self.cut()

    async def stop(self) -> None:
        self._blackholing = False
        await self.refuse()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        link = asyncio.current_task()
        assert link is not None
        self._links.add(link)
        try:
            if self._blackholing:
                await asyncio.Event().wait()  # accepted, never answered, until cut()
            await self._link(client_reader, client_writer)
        except asyncio.CancelledError:
            # Cancelled by cut(): the connection is meant to end here, not the proxy.
            pass
        finally:
            self._links.discard(link)
            _abort(client_writer)

    async def _link(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            return
        try:
            pumps = [
                asyncio.create_task(self._pump(client_reader, server_writer)),
                asyncio.create_task(self._pump(server_reader, client_writer)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            _abort(server_writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once, as a dropped network link would: no draining of buffered data."""
    writer.transport.abort()
