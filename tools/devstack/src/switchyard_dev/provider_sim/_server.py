"""The simulator's server lifecycle: uvicorn on a loopback socket, as a task on the caller's loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the simulator runs inside someone else's process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class LoopbackServer:
    """Serves one ASGI app on `host:port` (0 picks a free port) until stopped; the port outlives it."""

    def __init__(self, app: ASGIApp, *, host: str, port: int) -> None:
        self._app = app
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the provider simulator is already running")
        sock = self._bind()
        self.port = int(sock.getsockname()[1])
        self._server = _QuietServer(self._config())
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="provider-simulator")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the provider simulator exited during startup")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Ask the server to exit; force it after 5 s of open connections."""
        if self._task is None or self._server is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
        except TimeoutError:
            self._server.force_exit = True
            await self._task
        finally:
            self._task = None
            self._server = None

    def _bind(self) -> socket.socket:
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
        # without it every response (headers and body written separately) waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        return sock

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="none",
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=3,
            server_header=False,
        )
