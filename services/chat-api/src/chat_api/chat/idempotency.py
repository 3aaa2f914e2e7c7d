"""`Idempotency-Key` on a message POST: the first completed answer is replayed to its retries."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chat_api.chat.models import IdempotencyRecord
from chat_api.core.columns import utcnow
from chat_api.core.problems import BadRequest, Conflict, IdempotencyKeyReused

__all__ = ["check_key", "claim", "complete", "forget", "request_hash"]

MAX_KEY_LENGTH = 255


def check_key(key: str | None) -> str | None:
    """The header's key, or BadRequest when it is empty or too long."""
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} characters")
    return key


def request_hash(payload: Mapping[str, object]) -> bytes:
    """SHA-256 of the request in a canonical JSON form."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).digest()


def claim(*, db_session: Session, user_id: uuid.UUID, key: str, digest: bytes) -> bytes | None:
    """Record the key as pending (no commit); the stored response if the request already completed."""
    try:
        # A savepoint, so losing the race to a concurrent first attempt leaves the transaction usable.
        with db_session.begin_nested():
            db_session.add(
                IdempotencyRecord(
                    user_id=user_id, key=key, request_hash=digest, status="pending", created_at=utcnow()
                )
            )
    except IntegrityError:
        pass
    else:
        return None
    record = db_session.get(IdempotencyRecord, (user_id, key), populate_existing=True)
    if record is None:  # the first attempt failed and let go of the key in the meantime
        raise Conflict("a request with this Idempotency-Key just failed; retry it")
    if record.request_hash != digest:
        raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request")
    if record.status != "done" or record.response is None:
        raise Conflict("a request with this Idempotency-Key is still in progress")
    return record.response


def complete(*, db_session: Session, user_id: uuid.UUID, key: str, response: bytes) -> None:
    """Store the finished response for replay (no commit)."""
    db_session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        .values(status="done", response=response)
    )


def forget(*, db_session: Session, user_id: uuid.UUID, key: str) -> None:
    """Drop a pending record whose request did not complete, so a retry can run (no commit)."""
    db_session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.status == "pending",
        )
    )
