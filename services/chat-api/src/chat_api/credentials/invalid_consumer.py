"""Marks credentials `invalid` when the router reports a provider rejection.

All chat-api replicas pull from one durable JetStream consumer, so each event is handled once
(and again only if a replica dies before acknowledging it; marking is idempotent). A message is
acknowledged after the database update, so a failed update is redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import anyio.to_thread
import nats.errors
from google.protobuf.message import DecodeError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.orm import Session, sessionmaker

from chat_api.core.tasks import cancel_and_wait
from chat_api.credentials.service import mark_invalid
from chat_api.events.nats_link import NatsLink
from chat_api.outbox.relay import sleep_until_reconnect
from switchyard.events.v1 import credentials_pb2
from switchyard_common.events import CREDENTIALS_STREAM, INVALID_SUBJECT

__all__ = ["DURABLE", "InvalidKeyConsumer"]

logger = logging.getLogger(__name__)

DURABLE = "chat-api-invalid-credentials"
BATCH = 20
FETCH_SECONDS = 1.0
RETRY_SECONDS = 1.0
REDELIVER_SECONDS = 5.0


class InvalidKeyConsumer:
    def __init__(self, *, sessions: sessionmaker[Session], nats: NatsLink) -> None:
        self._sessions = sessions
        self._nats = nats
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin consuming CredentialInvalid events (a durable consumer shared by all replicas)."""
        self._task = asyncio.create_task(self._run(), name="chat-api-invalid-keys")

    async def stop(self) -> None:
        """Stop consuming; unacknowledged events are redelivered to the next consumer."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            js = self._nats.jetstream()
            if js is None:
                await sleep_until_reconnect(self._nats, RETRY_SECONDS)
                continue
            # Whatever set `changed` so far is this connection; a later set means a reconnect.
            self._nats.changed.clear()
            try:
                subscription = await js.pull_subscribe(
                    INVALID_SUBJECT,
                    durable=DURABLE,
                    stream=CREDENTIALS_STREAM,
                    config=ConsumerConfig(
                        durable_name=DURABLE,
                        filter_subject=INVALID_SUBJECT,
                        ack_policy=AckPolicy.EXPLICIT,
                        deliver_policy=DeliverPolicy.ALL,
                    ),
                )
                try:
                    await self._consume(subscription)
                finally:
                    with contextlib.suppress(nats.errors.Error):
                        await subscription.unsubscribe()
            except (nats.errors.Error, TimeoutError) as exc:
                logger.warning("invalid-key consumer interrupted (%s); resubscribing", type(exc).__name__)
                await sleep_until_reconnect(self._nats, RETRY_SECONDS)

    async def _consume(self, subscription: Any) -> None:
        """Handle messages until NATS reconnects (then the caller subscribes afresh)."""
        while not self._nats.changed.is_set():
            try:
                messages = await subscription.fetch(BATCH, timeout=FETCH_SECONDS)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                await self._handle(message)

    async def _handle(self, message: Any) -> None:
        try:
            event = credentials_pb2.CredentialInvalid.FromString(message.data)
            credential_id = uuid.UUID(event.credential_id)
        except (DecodeError, ValueError):
            logger.error("dropping a malformed CredentialInvalid event")
            await message.term()
            return
        try:
            found = await anyio.to_thread.run_sync(self._mark, credential_id)
        except Exception:  # the database is away: let JetStream redeliver later
            logger.exception("credential %s not marked invalid; will retry", credential_id)
            await message.nak(delay=REDELIVER_SECONDS)
            return
        await message.ack()
        if found:
            logger.info("credential %s (%s) marked invalid by the router", credential_id, event.provider)

    def _mark(self, credential_id: uuid.UUID) -> bool:
        with self._sessions() as db_session:
            return mark_invalid(db_session=db_session, credential_id=credential_id)
