"""Provider API keys, stored only as keyvault envelopes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chat_api.core.columns import Timestamp, UUIDPk
from chat_api.core.db import Base

__all__ = ["Credential"]


class Credential(Base):
    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "provider", name="uq_credentials_owner_type"),
        CheckConstraint("owner_type IN ('user', 'org')", name="owner_type"),
        CheckConstraint("status IN ('active', 'invalid')", name="status"),
    )

    id: Mapped[UUIDPk]
    # Polymorphic owner (a user or an org), so no foreign key; chat-api deletes rows with their owner.
    owner_type: Mapped[str] = mapped_column(String(8))
    owner_id: Mapped[uuid.UUID]
    provider: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(200))
    hint: Mapped[str] = mapped_column(String(32))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # When a verdict (verify, a provider's rejection) last set `status`: usage recorded later from a
    # call that started before it must not overrule it (see usage.service._mark_keys_used).
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fallback_to_platform: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[Timestamp]
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set by the first step of a DELETE: from then on no new request picks this key.
    revoking_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
