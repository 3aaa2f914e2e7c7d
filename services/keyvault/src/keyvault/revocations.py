"""The revocation deny-list, rebuilt from the JetStream credential-events stream.

On every start keyvault replays the stream from the start of its retention with an ordered
(ephemeral) consumer, so each replica holds the whole list; it is `ready` only once it has
processed everything the stream held when it subscribed. Until then Decrypt is refused.

A NATS outage after that keeps keyvault serving with the list it has. On every reconnect the
consumer is re-created from the first stream sequence not yet processed: an ephemeral consumer
does not survive a server restart, and nats-py alone would notice that only after missed idle
heartbeats (tens of seconds), leaving revocations published meanwhile unapplied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from switchyard.events.v1 import credentials_pb2
from switchyard_common.events import CREDENTIALS_STREAM, REVOKED_SUBJECT, ensure_credentials_stream

__all__ = ["RevocationList", "RevocationSync"]

logger = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 1.0


class RevocationList:
    def __init__(self) -> None:
        self._revoked: set[str] = set()
        self._ready = asyncio.Event()

    def revoke(self, credential_id: str) -> None:
        self._revoked.add(credential_id)

    def is_revoked(self, credential_id: str) -> bool:
        return credential_id in self._revoked

    def mark_ready(self) -> None:
        self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def __len__(self) -> int:
        return len(self._revoked)


class RevocationSync:
    """Owns the NATS connection and keeps a RevocationList fed from the stream."""

    def __init__(
        self,
        revocations: RevocationList,
        *,
        servers: list[str],
        retention_days: float,
        on_ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._revocations = revocations
        self._servers = servers
        self._retention_days = retention_days
        self._on_ready = on_ready
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PushSubscription | None = None
        self._catch_up_to = 0
        self._last_seq = 0  # highest stream sequence processed
        self._resubscribe_needed = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-sync")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None and not self._nc.is_closed:
            # drain() refuses a connection that is reconnecting (NATS down): just close it then.
            try:
                await self._nc.drain()
            except nats.errors.Error:
                await self._nc.close()

    async def _run(self) -> None:
        # nats-py reconnects an established connection by itself, but not a first connect:
        # keep trying so keyvault started during a NATS outage becomes ready when NATS is back.
        while True:
            try:
                await self._subscribe()
                break
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                logger.warning("revocation stream unavailable (%s); retrying", type(exc).__name__)
                if self._nc is not None:
                    await self._nc.close()
                    self._nc = None
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
        while True:
            await self._resubscribe_needed.wait()
            self._resubscribe_needed.clear()
            try:
                await self._resubscribe()
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                logger.warning("cannot resume revocation stream (%s); retrying", type(exc).__name__)
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
                self._resubscribe_needed.set()

    async def _subscribe(self) -> None:
        self._nc = await nats.connect(
            servers=self._servers,
            name="keyvault",
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_DELAY_SECONDS,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        js = self._nc.jetstream()
        await ensure_credentials_stream(js, retention_days=self._retention_days)
        info = await js.stream_info(CREDENTIALS_STREAM)
        self._catch_up_to = info.state.last_seq if info.state.messages else 0
        self._sub = await self._consume(js, start_seq=1)
        logger.info("replaying revocations up to stream sequence %s", self._catch_up_to)
        if self._catch_up_to == 0:
            await self._became_ready()

    async def _resubscribe(self) -> None:
        """Replace the consumer with one starting after the last processed event."""
        assert self._nc is not None
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
        self._sub = await self._consume(js, start_seq=start_seq)
        logger.info("revocation stream resumed from sequence %s", start_seq)

    async def _consume(self, js: JetStreamContext, *, start_seq: int) -> JetStreamContext.PushSubscription:
        if start_seq <= 1:
            return await js.subscribe(
                REVOKED_SUBJECT,
                stream=CREDENTIALS_STREAM,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                cb=self._on_message,
            )
        return await js.subscribe(
            REVOKED_SUBJECT,
            stream=CREDENTIALS_STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=start_seq),
            cb=self._on_message,
        )

    async def _on_message(self, msg: Msg) -> None:
        self._last_seq = max(self._last_seq, msg.metadata.sequence.stream)
        event = credentials_pb2.CredentialRevoked()
        try:
            event.ParseFromString(msg.data)
        except DecodeError:
            logger.error("undecodable revocation event at sequence %s", msg.metadata.sequence.stream)
        else:
            if event.credential_id:
                self._revocations.revoke(event.credential_id)
                logger.info("credential %s revoked (%s)", event.credential_id, event.reason or "-")
        if not self._revocations.ready and msg.metadata.sequence.stream >= self._catch_up_to:
            await self._became_ready()

    async def _became_ready(self) -> None:
        if not self._revocations.ready:
            self._revocations.mark_ready()
            logger.info("revocation list caught up: %s revoked credentials", len(self._revocations))
            await self._on_ready()

    async def _on_error(self, exc: Exception) -> None:
        logger.warning("NATS error: %s", type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if not self._stopping:
            logger.warning("disconnected from NATS; revocations resume on reconnect")

    async def _on_reconnected(self) -> None:
        logger.info("reconnected to NATS; resuming the revocation stream")
        self._resubscribe_needed.set()
