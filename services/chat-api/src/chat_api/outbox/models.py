"""Events written in the same transaction as the change they announce; a relay publishes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from chat_api.core.columns import Timestamp, UUIDPk
from chat_api.core.db import Base

__all__ = ["OutboxEvent"]


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[UUIDPk]
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # JetStream's Nats-Msg-Id: a retried publish is de-duplicated by the server.
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[Timestamp]
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
