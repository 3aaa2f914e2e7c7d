"""One row per completion (who, which access, tokens, cost, latency) and monthly quota counters."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from chat_api.core.columns import Timestamp, UUIDPk
from chat_api.core.db import Base

__all__ = ["QuotaCounter", "UsageRecord"]


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        CheckConstraint("key_source IN ('user', 'org', 'platform')", name="key_source"),
        Index("ix_usage_records_user_id", "user_id", "created_at"),
    )

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID | None]
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(120))
    key_source: Mapped[str] = mapped_column(String(16))
    # No foreign key: usage outlives a revoked (hard-deleted) credential.
    credential_id: Mapped[uuid.UUID | None]
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 8))
    latency_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[Timestamp]


class QuotaCounter(Base):
    """Platform-access tokens a user spent in one calendar month (UTC), e.g. period "2026-11"."""

    __tablename__ = "quota_counters"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    platform_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
