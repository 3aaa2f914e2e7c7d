"""/v1/usage: the caller's requests, tokens and cost over a period, and the platform quota."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from chat_api.api.deps import CurrentUser, ServicesDep, SessionDep, SettingsDep
from chat_api.core.columns import utcnow
from chat_api.core.openapi import problems
from chat_api.core.problems import BadRequest
from chat_api.usage import service
from chat_api.usage.schemas import QuotaRead, UsageGroupRead, UsageRead, UsageTotals

usage_routes = APIRouter(prefix="/v1/usage", tags=["usage"], responses=problems(400))

GroupBy = Literal["provider", "model", "key_source", "credential"]


def _month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def _bound(value: str, *, end: bool) -> datetime:
    """An ISO date or date-time; a bare date as `to` includes that whole day."""
    try:
        if "T" not in value and len(value) <= 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        name = "to" if end else "from"
        raise BadRequest(f"`{name}` must be an ISO date (2026-11-01) or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@usage_routes.get("")
def read_usage(
    user: CurrentUser,
    db_session: SessionDep,
    settings: SettingsDep,
    services: ServicesDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    group_by: GroupBy = "provider",
) -> UsageRead:
    now = utcnow()
    since = _bound(start, end=False) if start else _month_start(now)
    until = _bound(end, end=True) if end else _next_month(_month_start(now))
    if until <= since:
        raise BadRequest("`to` must be after `from`")
    # Completions this replica has not written yet count too (a sync route: in a worker thread).
    services.usage.flush()
    groups = service.usage_groups(
        db_session=db_session, user_id=user.id, start=since, end=until, group_by=group_by
    )
    period = service.period_of(now)
    used = service.platform_tokens_used(db_session=db_session, user_id=user.id, period=period)
    limit = settings.platform_monthly_token_quota
    return UsageRead(
        start=since,
        end=until,
        group_by=group_by,
        groups=[UsageGroupRead(**asdict(group)) for group in groups],
        total=UsageTotals(
            requests=sum(g.requests for g in groups),
            input_tokens=sum(g.input_tokens for g in groups),
            output_tokens=sum(g.output_tokens for g in groups),
            cost_usd=float(sum((g.cost_usd for g in groups), Decimal(0))),
        ),
        quota=QuotaRead(
            period=period,
            platform_tokens_used=used,
            platform_tokens_limit=limit,
            platform_tokens_remaining=max(0, limit - used),
        ),
    )
