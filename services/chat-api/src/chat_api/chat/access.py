"""Who a chat request runs as: the org whose keys and policies apply, and whether platform access is left."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from chat_api.core.columns import utcnow
from chat_api.core.problems import BadRequest, NotFound
from chat_api.orgs.models import OrgMember
from chat_api.usage.models import QuotaCounter
from chat_api.usage.service import period_of

__all__ = ["ChatContext", "parse_org_header", "resolve_context"]


@dataclass(frozen=True, slots=True)
class ChatContext:
    org_id: uuid.UUID | None
    # The monthly platform quota is spent: platform access must not serve this request.
    quota_exceeded: bool


def parse_org_header(value: str | None) -> uuid.UUID | None:
    """The `X-Switchyard-Org` header's org id, if given."""
    if value is None or not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise BadRequest("X-Switchyard-Org must be an org id") from None


def _context_query(*, requested: bool) -> Select[uuid.UUID | None, int | None]:
    membership = select(OrgMember.org_id).where(OrgMember.user_id == bindparam("user_id"))
    if requested:
        membership = membership.where(OrgMember.org_id == bindparam("org_id"))
    membership = membership.order_by(OrgMember.created_at, OrgMember.org_id).limit(1)
    used = select(QuotaCounter.platform_tokens).where(
        QuotaCounter.user_id == bindparam("user_id"), QuotaCounter.period == bindparam("period")
    )
    return select(membership.scalar_subquery(), used.scalar_subquery())


# Built once, with bound parameters: building a statement (and its cache key) per request costs
# more CPU than running it. Keyed by whether the request names its org.
_CONTEXT = {requested: _context_query(requested=requested) for requested in (False, True)}


def resolve_context(
    *,
    db_session: Session,
    user_id: uuid.UUID,
    requested_org: uuid.UUID | None,
    quota: int,
    unwritten: int = 0,
) -> ChatContext:
    """The request's org (the requested membership, else the earliest one) and its quota state.

    `unwritten`: platform tokens this replica spent but has not written yet (see UsageWriter); read
    before the counter, so a batch written in between is at worst counted twice, never missed.
    """
    # One round trip for both: this runs on every chat request. Core, on the session's connection:
    # no ORM entities to load, so the ORM's execution layer would only add CPU.
    found = db_session.connection().execute(
        _CONTEXT[requested_org is not None],
        {"user_id": user_id, "org_id": requested_org, "period": period_of(utcnow())},
    )
    org_id, tokens = found.one()
    if requested_org is not None and org_id is None:
        # The same answer for an org that does not exist and one the caller is not in.
        raise NotFound("no such org")
    return ChatContext(org_id=org_id, quota_exceeded=(tokens or 0) + unwritten >= quota)
