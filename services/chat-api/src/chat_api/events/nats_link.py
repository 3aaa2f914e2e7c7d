"""chat-api's NATS connection, kept alive in the background: start-up never waits for NATS, and
every user of JetStream asks for it at the moment it needs it (None while NATS is away)."""

from __future__ import annotations

import asyncio
import logging

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from chat_api.core.tasks import cancel_and_wait
from switchyard_common.events import close_connection, ensure_credentials_stream

__all__ = ["NatsLink"]

logger = logging.getLogger(__name__)


class NatsLink:
    """Owns one connection; `connected` turns True once the credentials stream exists."""

    def __init__(self, servers: list[str], *, retention_days: float, reconnect_delay: float = 0.5) -> None:
        self._servers = servers
        self._retention_days = retention_days
        self._reconnect_delay = reconnect_delay
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._stream_ready = False
        self.changed = asyncio.Event()  # set on every (re)connect, so waiters retry at once

    @property
    def connected(self) -> bool:
        return self._stream_ready and self._nc is not None and self._nc.is_connected

    def jetstream(self) -> JetStreamContext | None:
        return self._nc.jetstream() if self.connected and self._nc is not None else None

    @property
    def client(self) -> NatsClient | None:
        return self._nc if self.connected else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_until_done(), name="chat-api-nats")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await close_connection(self._nc)

    async def _connect_until_done(self) -> None:
        # nats-py reconnects an established connection by itself, but gives up on a first connect.
        while True:
            try:
                self._nc = await nats.connect(
                    servers=self._servers,
                    name="chat-api",
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=self._reconnect_delay,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
                await ensure_credentials_stream(self._nc.jetstream(), retention_days=self._retention_days)
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                logger.warning("NATS not reachable yet (%s); retrying", type(exc).__name__)
                if self._nc is not None:
                    await self._nc.close()
                    self._nc = None
                await asyncio.sleep(self._reconnect_delay)
                continue
            self._stream_ready = True
            self.changed.set()
            logger.info("connected to NATS")
            return

    async def _on_error(self, exc: Exception) -> None:
        logger.warning("NATS error: %s", type(exc).__name__)

    async def _on_disconnected(self) -> None:
        logger.warning("disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        logger.info("reconnected to NATS")
        self.changed.set()
