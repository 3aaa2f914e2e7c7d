"""Organisations: membership and roles (more org operations join this module)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from chat_api.core.problems import Forbidden, NotFound
from chat_api.orgs.models import OrgMember

__all__ = ["ADMIN_ROLES", "ROLES", "require_member"]

ROLES = ("owner", "admin", "member")
ADMIN_ROLES = frozenset({"owner", "admin"})


def require_member(
    *, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID, roles: frozenset[str] | None = None
) -> OrgMember:
    """The caller's membership; NotFound for non-members (an org id can't be probed), Forbidden
    when the member's role is not among `roles`."""
    member = db_session.scalar(
        select(OrgMember).where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
    )
    if member is None:
        raise NotFound("no such organization")
    if roles is not None and member.role not in roles:
        raise Forbidden(f"this needs one of the roles: {', '.join(sorted(roles))}")
    return member
