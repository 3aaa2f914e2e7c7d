"""The credential-revocation feed: one ordered JetStream consumer that survives NATS outages.

keyvault (its deny-list) and router (its key cache) both follow the revoked subject through this
one implementation. The feed owns its NATS connection and tells its user four things: a credential
was revoked, the feed is caught up for the first time (`on_ready`), the connection was lost
(`on_disconnected`), and after a reconnect it has replayed everything it missed
(`on_reconnected_and_caught_up`).

"Caught up" means the consumer had nothing left to deliver: a delivered message whose metadata says
no message is pending after it, or a fresh consumer with nothing pending and nothing delivered (the
check nats-py's KV watcher makes). It is judged per subscription, so the stream may hold other
subjects (switchyard.credentials.invalid.v1) without stalling it.

On every reconnect the consumer is re-created from the first stream sequence not yet processed: an
ephemeral consumer does not survive a server restart, and nats-py alone would notice that only after
missed idle heartbeats (tens of seconds), leaving revocations published meanwhile unapplied.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable

import nats
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from switchyard.events.v1 import credentials_pb2
from switchyard_common.events import (
    CREDENTIALS_STREAM,
    REVOKED_SUBJECT,
    close_connection,
    ensure_credentials_stream,
)

__all__ = ["FeedStart", "RevocationFeed"]

logger = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 1.0
NATS_FAILURES = (TimeoutError, OSError, nats.errors.Error)

Notify = Callable[[], Awaitable[None]]
Revoked = Callable[[str], Awaitable[None]]


class FeedStart(enum.Enum):
    """Where the first subscription starts; after that the feed always resumes where it left off."""

    # Everything the stream retains: a deny-list must know every revocation.
    REPLAY = "replay"
    # Only what is published from now on: a cache that starts empty has nothing older to forget.
    NEW = "new"


async def _nothing() -> None:
    return None


class RevocationFeed:
    """Owns one NATS connection and feeds CredentialRevoked events to its user's callbacks."""

    def __init__(
        self,
        *,
        servers: list[str],
        retention_days: float,
        client_name: str,
        start: FeedStart,
        on_revoked: Revoked,
        on_ready: Notify = _nothing,
        on_disconnected: Notify = _nothing,
        on_reconnected_and_caught_up: Notify = _nothing,
        reconnect_delay: float = RECONNECT_DELAY_SECONDS,
    ) -> None:
        self._servers = servers
        self._retention_days = retention_days
        self._client_name = client_name
        self._start = start
        self._on_revoked = on_revoked
        self._on_ready = on_ready
        self._on_disconnected = on_disconnected
        self._on_reconnected_and_caught_up = on_reconnected_and_caught_up
        self._reconnect_delay = reconnect_delay
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PushSubscription | None = None
        # Bumped on every (re)subscription and every disconnect: only the current subscription,
        # on a live connection, may declare the feed caught up.
        self._generation = 0
        self._last_seq = 0  # highest stream sequence processed
        self._ready = False
        self._caught_up = False
        self._resubscribe_needed = asyncio.Event()
        self._stopping = False

    @property
    def ready(self) -> bool:
        """Caught up at least once since start."""
        return self._ready

    @property
    def healthy(self) -> bool:
        """Connected and caught up: every revocation in the stream has been handed over."""
        return self._caught_up

    @property
    def last_sequence(self) -> int:
        return self._last_seq

    def jetstream(self) -> JetStreamContext | None:
        """The feed's connection, for publishing on the same stream; None while disconnected."""
        if self._nc is None or not self._nc.is_connected:
            return None
        return self._nc.jetstream()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._client_name}-revocation-feed")

    async def stop(self) -> None:
        self._stopping = True
        self._caught_up = False
        if self._task is not None:
            # `_run` also checks `_stopping`: a nats-py request finishing just as the task is cancelled
            # can swallow the cancellation (asyncio.wait_for in Python 3.11), and the task would then
            # wait for a reconnect forever.
            self._resubscribe_needed.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await close_connection(self._nc)

    async def _run(self) -> None:
        # nats-py reconnects an established connection by itself, but not a first connect: keep
        # trying, so a service started during a NATS outage catches up once NATS is back.
        while not self._stopping:
            try:
                await self._subscribe()
                break
            except NATS_FAILURES as exc:
                logger.warning("revocation stream unavailable (%s); retrying", type(exc).__name__)
                if self._nc is not None:
                    await self._nc.close()
                    self._nc = None
                await asyncio.sleep(self._reconnect_delay)
        while not self._stopping:
            await self._resubscribe_needed.wait()
            self._resubscribe_needed.clear()
            if self._stopping:
                return
            try:
                await self._resubscribe()
            except NATS_FAILURES as exc:
                logger.warning("cannot resume revocation stream (%s); retrying", type(exc).__name__)
                await asyncio.sleep(self._reconnect_delay)
                self._resubscribe_needed.set()

    async def _subscribe(self) -> None:
        self._nc = await nats.connect(
            servers=self._servers,
            name=self._client_name,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self._reconnect_delay,
            error_cb=self._on_error,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
        )
        js = self._nc.jetstream()
        await ensure_credentials_stream(js, retention_days=self._retention_days)
        start_seq = 1
        if self._start is FeedStart.NEW:
            # Equivalent to DeliverPolicy.NEW, but the resume point is known before any event.
            info = await js.stream_info(CREDENTIALS_STREAM)
            start_seq = info.state.last_seq + 1
        await self._consume(js, start_seq=start_seq)
        logger.info("following revocations from stream sequence %s", start_seq)

    async def _resubscribe(self) -> None:
        """Replace the consumer with one starting after the last processed event."""
        assert self._nc is not None
        self._generation += 1
        js = self._nc.jetstream()
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None
        # A NATS that lost its store gets the stream back; one whose stream restarted below what
        # we have seen is replayed from the beginning (revoking twice is harmless).
        await ensure_credentials_stream(js, retention_days=self._retention_days)
        info = await js.stream_info(CREDENTIALS_STREAM)
        start_seq = self._last_seq + 1 if info.state.last_seq >= self._last_seq else 1
        await self._consume(js, start_seq=start_seq)
        logger.info("revocation stream resumed from sequence %s", start_seq)

    async def _consume(self, js: JetStreamContext, *, start_seq: int) -> None:
        self._generation += 1
        generation = self._generation
        self._last_seq = start_seq - 1

        async def deliver(msg: Msg) -> None:
            await self._on_message(msg, generation)

        if start_seq <= 1:
            policy, config = DeliverPolicy.ALL, None
        else:
            policy, config = DeliverPolicy.BY_START_SEQUENCE, ConsumerConfig(opt_start_seq=start_seq)
        self._sub = await js.subscribe(
            REVOKED_SUBJECT,
            stream=CREDENTIALS_STREAM,
            ordered_consumer=True,
            deliver_policy=policy,
            config=config,
            cb=deliver,
        )
        # Nothing pending and nothing delivered means there is nothing to replay. "Delivered" is the
        # server's count: it may have sent messages that reach us only after this reply (num_pending
        # is then already 0), and those must be processed first; the last of them, with nothing
        # pending after it, declares the feed caught up in `_on_message`.
        info = await self._sub.consumer_info()
        server_delivered = info.delivered.consumer_seq if info.delivered is not None else 0
        if info.num_pending == 0 and server_delivered == 0 and self._sub.delivered == 0:
            await self._caught_up_at(generation)

    async def _on_message(self, msg: Msg, generation: int) -> None:
        metadata = msg.metadata
        self._last_seq = max(self._last_seq, metadata.sequence.stream)
        event = credentials_pb2.CredentialRevoked()
        try:
            event.ParseFromString(msg.data)
        except DecodeError:
            logger.error("undecodable revocation event at sequence %s", metadata.sequence.stream)
        else:
            if event.credential_id:
                logger.info("credential %s revoked (%s)", event.credential_id, event.reason or "-")
                await self._notify("on_revoked", self._on_revoked(event.credential_id))
        if metadata.num_pending == 0:
            await self._caught_up_at(generation)

    async def _caught_up_at(self, generation: int) -> None:
        if self._caught_up or generation != self._generation or self._stopping:
            return
        if self._nc is None or not self._nc.is_connected:
            return
        self._caught_up = True
        if not self._ready:
            self._ready = True
            logger.info("revocation feed caught up at stream sequence %s", self._last_seq)
            await self._notify("on_ready", self._on_ready())
        else:
            logger.info("revocation feed caught up again at stream sequence %s", self._last_seq)
            await self._notify("on_reconnected_and_caught_up", self._on_reconnected_and_caught_up())

    async def _notify(self, name: str, callback: Awaitable[None]) -> None:
        # A failing user callback must not stop the consumer (nats-py would only report it).
        try:
            await callback
        except Exception:
            logger.exception("revocation feed callback %s failed", name)

    async def _on_error(self, exc: Exception) -> None:
        logger.warning("NATS error: %s", type(exc).__name__)

    async def _disconnected(self) -> None:
        if self._stopping:
            return
        self._generation += 1
        self._caught_up = False
        logger.warning("disconnected from NATS; revocations resume on reconnect")
        await self._notify("on_disconnected", self._on_disconnected())

    async def _reconnected(self) -> None:
        logger.info("reconnected to NATS; resuming the revocation stream")
        self._resubscribe_needed.set()
