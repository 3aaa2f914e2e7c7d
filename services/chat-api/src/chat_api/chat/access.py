"""Who a chat request runs as: the org whose keys and policies apply, and whether platform access is left."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
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


def resolve_context(
    *, db_session: Session, user_id: uuid.UUID, requested_org: uuid.UUID | None, quota: int
) -> ChatContext:
    """The request's org (the requested membership, else the earliest one) and its quota state."""
    membership = select(OrgMember.org_id).where(OrgMember.user_id == user_id)
    if requested_org is not None:
        membership = membership.where(OrgMember.org_id == requested_org)
    membership = membership.order_by(OrgMember.created_at, OrgMember.org_id).limit(1)
    used = select(QuotaCounter.platform_tokens).where(
        QuotaCounter.user_id == user_id, QuotaCounter.period == period_of(utcnow())
    )
    # One round trip for both: this runs on every chat request.
    org_id, tokens = db_session.execute(select(membership.scalar_subquery(), used.scalar_subquery())).one()
    if requested_org is not None and org_id is None:
        # The same answer for an org that does not exist and one the caller is not in.
        raise NotFound("no such org")
    return ChatContext(org_id=org_id, quota_exceeded=(tokens or 0) >= quota)
