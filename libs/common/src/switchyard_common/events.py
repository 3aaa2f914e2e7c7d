"""The credential-events stream on NATS JetStream: its names, its configuration, publishing."""

from __future__ import annotations

from datetime import UTC, datetime

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from switchyard.events.v1 import credentials_pb2

__all__ = [
    "CREDENTIALS_STREAM",
    "INVALID_SUBJECT",
    "REVOKED_SUBJECT",
    "close_connection",
    "ensure_credentials_stream",
    "publish_credential_invalid",
    "publish_revocation",
]

CREDENTIALS_STREAM = "SWITCHYARD_CREDENTIALS"
CREDENTIALS_SUBJECTS = "switchyard.credentials.>"
REVOKED_SUBJECT = "switchyard.credentials.revoked.v1"
INVALID_SUBJECT = "switchyard.credentials.invalid.v1"
SECONDS_PER_DAY = 86_400


async def ensure_credentials_stream(js: JetStreamContext, *, retention_days: float) -> None:
    """Create the stream if it is missing. Revocations are kept for `retention_days`; keyvault
    rebuilds its deny-list by replaying them, so retention must outlive any stored envelope
    that could be replayed at it."""
    try:
        await js.stream_info(CREDENTIALS_STREAM)
        return
    except NotFoundError:
        pass
    await js.add_stream(
        StreamConfig(
            name=CREDENTIALS_STREAM,
            subjects=[CREDENTIALS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=retention_days * SECONDS_PER_DAY,
            duplicate_window=120.0,
        )
    )


async def _publish(js: JetStreamContext, subject: str, event_id: str, payload: bytes) -> int:
    """Publish and wait for JetStream's ack; returns the stream sequence. Retried publishes of the
    same event id are de-duplicated by the server (Nats-Msg-Id)."""
    ack = await js.publish(subject, payload, stream=CREDENTIALS_STREAM, headers={"Nats-Msg-Id": event_id})
    return ack.seq


async def publish_revocation(js: JetStreamContext, event: credentials_pb2.CredentialRevoked) -> int:
    """A credential was deleted or replaced: every cache and keyvault must refuse it from now on."""
    if not event.HasField("revoked_at"):
        event.revoked_at.FromDatetime(datetime.now(UTC))
    return await _publish(js, REVOKED_SUBJECT, event.event_id, event.SerializeToString())


async def publish_credential_invalid(js: JetStreamContext, event: credentials_pb2.CredentialInvalid) -> int:
    """The router saw a provider reject a stored credential; chat-api marks it invalid."""
    if not event.HasField("observed_at"):
        event.observed_at.FromDatetime(datetime.now(UTC))
    return await _publish(js, INVALID_SUBJECT, event.event_id, event.SerializeToString())


async def close_connection(nc: NatsClient | None) -> None:
    """Drain a connection on shutdown; drain() refuses one that is reconnecting (NATS down), so
    that one is just closed."""
    if nc is None or nc.is_closed:
        return
    try:
        await nc.drain()
    except nats.errors.Error:
        await nc.close()
