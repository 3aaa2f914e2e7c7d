"""Publishes outbox events to JetStream, oldest first, until acknowledged.

A NATS outage delays events but never loses them: they stay in the table and the background loop
retries with a doubling delay, at once when NATS reconnects. Every publish carries the event's
`Nats-Msg-Id`, so a retry (or two replicas' relays racing for one row) is de-duplicated by the
server within the stream's duplicate window; consumers of these events are idempotent beyond it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

import anyio.to_thread
import nats.errors
from sqlalchemy.orm import Session, sessionmaker

from chat_api.core.tasks import cancel_and_wait
from chat_api.events.nats_link import NatsLink
from chat_api.outbox import service as outbox
from switchyard_common.events import CREDENTIALS_STREAM

__all__ = ["OutboxRelay", "sleep_until_reconnect"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
BATCH = 100
PUBLISH_TIMEOUT_SECONDS = 2.0


async def sleep_until_reconnect(nats_link: NatsLink, seconds: float) -> None:
    """Sleep up to `seconds`, ending early when NATS comes back from an outage."""
    if nats_link.connected:
        await asyncio.sleep(seconds)
        return
    # `changed` stays set after the last connect; while disconnected that is stale, so wait for a new one.
    nats_link.changed.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(nats_link.changed.wait(), seconds)


class OutboxRelay:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        nats: NatsLink,
        retry_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._nats = nats
        self._retry_seconds = retry_seconds
        self._retry_max_seconds = retry_max_seconds
        self._task: asyncio.Task[None] | None = None
        self._one_pass = asyncio.Lock()  # one publishing pass at a time keeps the events in order
        self._nudge = asyncio.Event()

    def start(self) -> None:
        """Begin the background loop that retries unpublished events."""
        self._task = asyncio.create_task(self._run(), name="chat-api-outbox-relay")

    async def stop(self) -> None:
        """Stop the loop; unpublished events stay in the table for the next start."""
        await cancel_and_wait(self._task)
        self._task = None

    async def publish_now(self, event_ids: Sequence[uuid.UUID], *, within: float) -> bool:
        """One immediate attempt for these events; True when JetStream acknowledged them all."""
        if not event_ids:
            return True
        try:
            async with asyncio.timeout(within):
                async with self._one_pass:
                    # Everything older goes first, so these events never overtake earlier ones.
                    await self._publish_pending()
                if await self._in_db(outbox.all_published, ids=list(event_ids)):
                    return True
        except TimeoutError:
            pass
        self._nudge.set()
        return False

    async def _run(self) -> None:
        delay = self._retry_seconds
        while True:
            self._nudge.clear()
            try:
                async with self._one_pass:
                    drained = await self._publish_pending()
            except Exception:  # the database may be away too: keep the loop alive and retry
                logger.exception("outbox relay pass failed")
                drained = False
            if drained:
                delay = self._retry_seconds
                # Idle polling picks up events another replica wrote but could not publish.
                await self._pause(self._retry_max_seconds)
            else:
                await self._pause(delay)
                delay = min(delay * 2, self._retry_max_seconds)

    async def _pause(self, seconds: float) -> None:
        waiters = [
            asyncio.ensure_future(self._nudge.wait()),
            asyncio.ensure_future(sleep_until_reconnect(self._nats, seconds)),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _publish_pending(self) -> bool:
        """Publish pending events in order until none is left (True) or one fails (False)."""
        while True:
            js = self._nats.jetstream()
            if js is None:
                return False
            batch = await self._in_db(outbox.pending, limit=BATCH)
            if not batch:
                return True
            for event in batch:
                try:
                    await js.publish(
                        event.subject,
                        event.payload,
                        timeout=PUBLISH_TIMEOUT_SECONDS,
                        stream=CREDENTIALS_STREAM,
                        headers={"Nats-Msg-Id": event.event_id},
                    )
                except (nats.errors.Error, TimeoutError) as exc:
                    logger.warning(
                        "outbox event %s not published (%s); will retry", event.event_id, type(exc).__name__
                    )
                    await self._in_db(outbox.record_failure, ids=[event.id])
                    return False
                await self._in_db(outbox.mark_published, ids=[event.id])

    async def _in_db(self, func: Callable[..., T], /, **kwargs: object) -> T:
        def call() -> T:
            with self._sessions() as db_session:
                return func(db_session=db_session, **kwargs)

        return await anyio.to_thread.run_sync(call)
