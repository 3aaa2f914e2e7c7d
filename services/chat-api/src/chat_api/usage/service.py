"""Recording completions (usage rows, the platform quota, the key's last use) and reading them back."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from chat_api.core.columns import utcnow
from chat_api.core.db import Base
from chat_api.credentials.models import Credential
from chat_api.usage.models import QuotaCounter, UsageRecord

__all__ = [
    "GROUPINGS",
    "Completion",
    "UsageGroup",
    "period_of",
    "platform_tokens_used",
    "record_completions",
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

    @property
    def platform_tokens(self) -> int:
        """Tokens that count against the platform quota."""
        return self.input_tokens + self.output_tokens if self.key_source == "platform" else 0


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


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _add_platform_tokens(db_session: Session, spent: Mapping[tuple[uuid.UUID, str], int]) -> None:
    # An upsert, so concurrent completions of one user add up instead of racing on a read. Rows in
    # key order, so that concurrent writers lock them in the same order.
    rows = [{"user_id": u, "period": p, "platform_tokens": n} for (u, p), n in sorted(spent.items()) if n]
    if not rows:
        return
    statement = pg_insert(_table(QuotaCounter)).values(rows)
    db_session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "period"],
            set_={"platform_tokens": QuotaCounter.platform_tokens + statement.excluded.platform_tokens},
        )
    )


def _mark_keys_used(db_session: Session, completions: Sequence[tuple[Completion, datetime]]) -> None:
    # Per key: the last time it was used, and the latest start of a call through it that worked.
    used: dict[uuid.UUID, tuple[datetime, datetime | None]] = {}
    for completion, at in completions:
        if completion.credential_id is not None:
            last, worked = used.get(completion.credential_id, (at, None))
            if completion.succeeded:
                started = at - timedelta(milliseconds=completion.latency_ms)
                worked = started if worked is None else max(worked, started)
            used[completion.credential_id] = (max(last, at), worked)
    credentials = _table(Credential)
    for reactivate in (True, False):
        rows = [
            {"key": key, "used": at, "worked": worked}
            for key, (at, worked) in sorted(used.items())
            if (worked is not None) is reactivate
        ]
        if not rows:
            continue
        values: dict[str, object] = {"last_used_at": bindparam("used")}
        if reactivate:
            # The key worked, so an earlier "invalid" verdict no longer holds — but only a call that
            # started after the verdict says so: this batch may land after a later rejection.
            verdict_older = or_(
                credentials.c.status_at.is_(None), credentials.c.status_at < bindparam("worked")
            )
            values["status"] = case((verdict_older, "active"), else_=credentials.c.status)
        statement = update(credentials).where(credentials.c.id == bindparam("key")).values(values)
        db_session.execute(statement, rows)


def record_completions(*, db_session: Session, completions: Sequence[tuple[Completion, datetime]]) -> None:
    """Add usage rows, count platform tokens against the quota and mark keys used (no commit).

    Each completion comes with the moment it ended; one bulk insert, one quota upsert per (user,
    period) and one update per key, whatever the number of completions.
    """
    if not completions:
        return
    db_session.execute(
        insert(_table(UsageRecord)),
        [
            {
                "id": uuid.uuid4(),
                "user_id": c.user_id,
                "org_id": c.org_id,
                "provider": c.provider,
                "model": c.model,
                "key_source": c.key_source,
                "credential_id": c.credential_id,
                "input_tokens": c.input_tokens,
                "output_tokens": c.output_tokens,
                "cost_usd": c.cost_usd,
                "latency_ms": c.latency_ms,
                "created_at": at,
            }
            for c, at in completions
        ],
    )
    spent: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    for completion, at in completions:
        spent[completion.user_id, period_of(at)] += completion.platform_tokens
    _add_platform_tokens(db_session, spent)
    _mark_keys_used(db_session, completions)


def record_usage(*, db_session: Session, completion: Completion) -> None:
    """Record one completion that ended now (no commit)."""
    record_completions(db_session=db_session, completions=[(completion, utcnow())])


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
