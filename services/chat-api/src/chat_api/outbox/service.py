"""Outbox rows: written inside the transaction whose change they announce, marked once published."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chat_api.core.columns import utcnow
from chat_api.outbox.models import OutboxEvent

__all__ = ["PendingEvent", "add_event", "all_published", "mark_published", "pending", "record_failure"]


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: uuid.UUID
    subject: str
    payload: bytes
    event_id: str


def add_event(*, db_session: Session, subject: str, payload: bytes, event_id: str) -> uuid.UUID:
    """Stage an event in the caller's transaction; it is published only if that commits."""
    row_id = uuid.uuid4()
    db_session.add(OutboxEvent(id=row_id, subject=subject, payload=payload, event_id=event_id, attempts=0))
    return row_id


def pending(*, db_session: Session, limit: int) -> list[PendingEvent]:
    """The oldest unpublished events, oldest first."""
    rows = db_session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
        .limit(limit)
    )
    events = [PendingEvent(row.id, row.subject, row.payload, row.event_id) for row in rows]
    db_session.rollback()  # read-only; give the connection back before the relay awaits NATS
    return events


def mark_published(*, db_session: Session, ids: Sequence[uuid.UUID]) -> None:
    """Record JetStream's acknowledgement of these events."""
    if ids:
        db_session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(ids), OutboxEvent.published_at.is_(None))
            .values(published_at=utcnow(), attempts=OutboxEvent.attempts + 1)
        )
        db_session.commit()


def record_failure(*, db_session: Session, ids: Sequence[uuid.UUID]) -> None:
    """Count a failed attempt; the events stay pending."""
    if ids:
        db_session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(attempts=OutboxEvent.attempts + 1)
        )
        db_session.commit()


def all_published(*, db_session: Session, ids: Sequence[uuid.UUID]) -> bool:
    """True when none of these events is still waiting to be published."""
    waiting = db_session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.id.in_(ids), OutboxEvent.published_at.is_(None))
    )
    db_session.rollback()
    return waiting == 0
