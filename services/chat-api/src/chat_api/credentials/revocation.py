"""Revoking a stored key so that, once the revocation returns, no new provider call starts with it.

The steps cooperate with `leases.py`: (1) mark the row `revoking_at` and commit, so no request
reads it any more; (2) delete the row, which waits for the KEY SHARE locks of the requests (on any
replica) that read it before the mark and have yet to start their provider call, and stage a
`CredentialRevoked` outbox event in the same transaction; (3) try to publish the event at once (the
relay retries if NATS is away). A request that had not locked the row when the DELETE committed no
longer finds it. A row left marked by a crashed process, or by a DELETE that waited too long, stays
hidden and unusable; the next DELETE or replacement finishes it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import psycopg.errors
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from chat_api.core.columns import utcnow
from chat_api.core.problems import NotFound, Unavailable
from chat_api.credentials.models import Credential
from chat_api.outbox import service as outbox
from switchyard.events.v1 import credentials_pb2
from switchyard_common.bindings import OWNER_TYPE_MESSAGES
from switchyard_common.envelope import Binding, OwnerType
from switchyard_common.events import REVOKED_SUBJECT

if TYPE_CHECKING:
    from chat_api.core.services import Services

__all__ = [
    "Owner",
    "delete_and_announce",
    "in_thread",
    "mark_revoking",
    "publish",
    "revoke",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
PUBLISH_WITHIN_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose keys: a user's own, or an org's (managed by its owners and admins)."""

    type: OwnerType
    id: uuid.UUID

    def binding(self, *, credential_id: uuid.UUID, provider: str) -> Binding:
        return Binding(str(credential_id), self.type, str(self.id), provider)


async def in_thread(func: Callable[..., T], /, **kwargs: Any) -> T:
    """Run blocking database work in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(partial(func, **kwargs))


def mark_revoking(
    *, db_session: Session, owner: Owner, key_id: uuid.UUID | None = None, provider: str | None = None
) -> Credential | None:
    """Step 1, committed: hide the owner's key (by id, or for a provider) from new requests."""
    query = select(Credential).where(
        Credential.owner_type == owner.type.value, Credential.owner_id == owner.id
    )
    if key_id is not None:
        query = query.where(Credential.id == key_id)
    else:
        query = query.where(Credential.provider == provider)
    row = db_session.scalar(query)
    if row is not None and row.revoking_at is None:
        # A plain UPDATE takes no lock that conflicts with the readers' KEY SHARE locks.
        db_session.execute(
            update(Credential)
            .where(Credential.id == row.id, Credential.revoking_at.is_(None))
            .values(revoking_at=utcnow())
        )
    db_session.commit()
    return row


def delete_and_announce(
    *, db_session: Session, credential: Credential, reason: str, wait_seconds: float | None = None
) -> uuid.UUID | None:
    """Step 2, in the caller's transaction: delete the row and stage its CredentialRevoked event;
    the outbox row's id, or None when the row was already gone.

    The DELETE waits for the readers' KEY SHARE locks; with `wait_seconds`, for that long at most,
    then the transaction is rolled back and Unavailable raised (the row stays marked and unusable).
    """
    if wait_seconds is not None:
        # For the rest of this transaction only.
        db_session.execute(
            select(func.set_config("lock_timeout", f"{max(1, round(wait_seconds * 1000))}ms", True))
        )
    try:
        deleted = db_session.execute(
            delete(Credential).where(Credential.id == credential.id).returning(Credential.id)
        ).first()
    except OperationalError as exc:
        if not isinstance(exc.orig, psycopg.errors.LockNotAvailable):
            raise
        db_session.rollback()
        raise Unavailable(
            "a request that read the key has not reached its provider yet; the key is no longer "
            "used for new requests, retry shortly to complete its removal",
            retry_after=5,
        ) from None
    if deleted is None:
        return None
    event = credentials_pb2.CredentialRevoked(
        event_id=uuid.uuid4().hex,
        credential_id=str(credential.id),
        owner_type=OWNER_TYPE_MESSAGES[OwnerType(credential.owner_type)],
        owner_id=str(credential.owner_id),
        provider=credential.provider,
        reason=reason,
    )
    event.revoked_at.FromDatetime(utcnow())
    return outbox.add_event(
        db_session=db_session,
        subject=REVOKED_SUBJECT,
        payload=event.SerializeToString(),
        event_id=event.event_id,
    )


async def publish(*, services: Services, outbox_ids: Sequence[uuid.UUID]) -> None:
    """Step 3: one prompt attempt; the relay keeps retrying what this one could not publish."""
    if outbox_ids and not await services.relay.publish_now(outbox_ids, within=PUBLISH_WITHIN_SECONDS):
        logger.warning("revocation events %s queued for the outbox relay", [str(i) for i in outbox_ids])


def _finish(*, db_session: Session, credential: Credential, wait_seconds: float) -> uuid.UUID | None:
    outbox_id = delete_and_announce(
        db_session=db_session, credential=credential, reason="deleted by owner", wait_seconds=wait_seconds
    )
    db_session.commit()
    return outbox_id


async def revoke(*, services: Services, db_session: Session, owner: Owner, key_id: uuid.UUID) -> None:
    """DELETE of a key: every step above; NotFound unless the owner has this key."""
    credential = await in_thread(mark_revoking, db_session=db_session, owner=owner, key_id=key_id)
    if credential is None:
        raise NotFound("no such key")
    outbox_id = await in_thread(
        _finish,
        db_session=db_session,
        credential=credential,
        wait_seconds=services.settings.revocation_wait_seconds,
    )
    if outbox_id is not None:
        logger.info("credential %s (%s) deleted by its owner", credential.id, credential.provider)
        await publish(services=services, outbox_ids=[outbox_id])
