"""Recording completions (usage rows, the platform quota, the key's last use) and reading them back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from chat_api.core.columns import utcnow
from chat_api.credentials.models import Credential
from chat_api.usage.models import QuotaCounter, UsageRecord

__all__ = [
    "GROUPINGS",
    "Completion",
    "UsageGroup",
    "period_of",
    "platform_tokens_used",
    "record_usage",
    "usage_groups",
]

# group_by value → the column grouped on.
GROUPINGS = {
    "provider": UsageRecord.provider,
    "model": UsageRecord.model,
    "key_source": UsageRecord.key_source,
    "credential": UsageRecord.credential_id,
}


@dataclass(frozen=True, slots=True)
class Completion:
    """One routed request as it is billed."""

    user_id: uuid.UUID
    org_id: uuid.UUID | None
    provider: str
    model: str
    key_source: str
    credential_id: uuid.UUID | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    latency_ms: int
    succeeded: bool


def period_of(moment: datetime) -> str:
    """The quota period ("YYYY-MM", UTC) a moment falls in."""
    return f"{moment.year:04d}-{moment.month:02d}"


def platform_tokens_used(*, db_session: Session, user_id: uuid.UUID, period: str) -> int:
    """Platform-access tokens the user spent in this period."""
    used = db_session.scalar(
        select(QuotaCounter.platform_tokens).where(
            QuotaCounter.user_id == user_id, QuotaCounter.period == period
        )
    )
    return int(used or 0)


def _add_platform_tokens(db_session: Session, user_id: uuid.UUID, period: str, tokens: int) -> None:
    # An upsert, so concurrent completions of one user add up instead of racing on a read.
    dialect = db_session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(QuotaCounter).values(user_id=user_id, period=period, platform_tokens=tokens)
    db_session.execute(
        statement.on_conflict_do_update(
            index_elements=[QuotaCounter.user_id, QuotaCounter.period],
            set_={"platform_tokens": QuotaCounter.platform_tokens + tokens},
        )
    )


def record_usage(*, db_session: Session, completion: Completion) -> None:
    """Add the usage row, count platform tokens against the quota and mark the key used (no commit)."""
    now = utcnow()
    db_session.add(
        UsageRecord(
            user_id=completion.user_id,
            org_id=completion.org_id,
            provider=completion.provider,
            model=completion.model,
            key_source=completion.key_source,
            credential_id=completion.credential_id,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cost_usd=completion.cost_usd,
            latency_ms=completion.latency_ms,
            created_at=now,
        )
    )
    tokens = completion.input_tokens + completion.output_tokens
    if completion.key_source == "platform" and tokens:
        _add_platform_tokens(db_session, completion.user_id, period_of(now), tokens)
    if completion.credential_id is not None:
        values: dict[str, object] = {"last_used_at": now}
        if completion.succeeded:
            # The key just worked, so an earlier "invalid" verdict no longer holds.
            values["status"] = "active"
        db_session.execute(update(Credential).where(Credential.id == completion.credential_id).values(values))


@dataclass(frozen=True, slots=True)
class UsageGroup:
    key: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


def usage_groups(
    *, db_session: Session, user_id: uuid.UUID, start: datetime, end: datetime, group_by: str
) -> list[UsageGroup]:
    """The user's usage in [start, end), summed per value of the `group_by` column."""
    column = GROUPINGS[group_by]
    rows = db_session.execute(
        select(
            column,
            func.count(),
            func.coalesce(func.sum(UsageRecord.input_tokens), 0),
            func.coalesce(func.sum(UsageRecord.output_tokens), 0),
            func.coalesce(func.sum(UsageRecord.cost_usd), 0),
        )
        .where(UsageRecord.user_id == user_id, UsageRecord.created_at >= start, UsageRecord.created_at < end)
        .group_by(column)
        .order_by(column)
    ).all()
    return [
        UsageGroup(
            key=None if key is None else str(key),
            requests=int(requests),
            input_tokens=int(input_tokens),
            output_tokens=int(output_tokens),
            cost_usd=Decimal(cost),
        )
        for key, requests, input_tokens, output_tokens, cost in rows
    ]
