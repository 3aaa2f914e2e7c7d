"""Organisations: creation, membership and roles, and the per-provider policy.

Every change to an org's members or policy first locks the org's row, so concurrent changes to one
org run one after another: two owners demoting each other at once cannot leave it without an owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chat_api.accounts.models import User
from chat_api.core.columns import utcnow
from chat_api.core.problems import Conflict, Forbidden, NotFound
from chat_api.credentials.models import Credential
from chat_api.orgs.models import Org, OrgMember, OrgPolicy
from chat_api.orgs.schemas import ProviderPolicy
from switchyard_common.providers import PROVIDERS

__all__ = [
    "ADMIN_ROLES",
    "ROLES",
    "add_member",
    "change_role",
    "create_org",
    "delete_org",
    "get_org",
    "get_policy",
    "list_members",
    "list_orgs",
    "remove_member",
    "rename_org",
    "replace_policy",
    "require_member",
]

ROLES = ("owner", "admin", "member")
ADMIN_ROLES = frozenset({"owner", "admin"})
OWNER_ONLY = frozenset({"owner"})


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


def _lock_org(*, db_session: Session, org_id: uuid.UUID) -> None:
    """Hold the org's row until commit."""
    db_session.execute(select(Org.id).where(Org.id == org_id).with_for_update())


def _owner_count(*, db_session: Session, org_id: uuid.UUID) -> int:
    query = select(func.count()).where(OrgMember.org_id == org_id, OrgMember.role == "owner")
    return db_session.scalar(query) or 0


def create_org(*, db_session: Session, user_id: uuid.UUID, name: str) -> Org:
    """A new org whose creator is its first owner."""
    org = Org(id=uuid.uuid4(), name=name, created_at=utcnow())
    db_session.add(org)
    db_session.flush()  # the org's row first: the membership's foreign key refers to it
    db_session.add(OrgMember(org_id=org.id, user_id=user_id, role="owner", created_at=org.created_at))
    db_session.commit()
    return org


def list_orgs(*, db_session: Session, user_id: uuid.UUID) -> list[tuple[Org, str]]:
    """The user's orgs, each with the user's role, oldest first."""
    rows = db_session.execute(
        select(Org, OrgMember.role)
        .join(OrgMember, OrgMember.org_id == Org.id)
        .where(OrgMember.user_id == user_id)
        .order_by(Org.created_at, Org.id)
    )
    return [(org, role) for org, role in rows]


def get_org(*, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Org, str]:
    """The org and the caller's role in it; NotFound unless the caller is a member."""
    member = require_member(db_session=db_session, org_id=org_id, user_id=user_id)
    org = db_session.get_one(Org, org_id)
    return org, member.role


def rename_org(*, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID, name: str) -> tuple[Org, str]:
    """Rename the org (owners and admins)."""
    member = require_member(db_session=db_session, org_id=org_id, user_id=user_id, roles=ADMIN_ROLES)
    org = db_session.get_one(Org, org_id)
    org.name = name
    db_session.commit()
    return org, member.role


def delete_org(*, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Delete the org with its members and policy (owners); Conflict while it still has keys."""
    _lock_org(db_session=db_session, org_id=org_id)
    require_member(db_session=db_session, org_id=org_id, user_id=user_id, roles=OWNER_ONLY)
    # Revoking a key publishes events the router relies on; dropping the rows here would skip them.
    keys = db_session.scalar(
        select(func.count()).where(Credential.owner_type == "org", Credential.owner_id == org_id)
    )
    if keys:
        raise Conflict(f"the organization still has {keys} provider key(s); revoke the org's keys first")
    # Explicit deletes: the foreign keys have no ON DELETE CASCADE, so what goes is spelled out here.
    db_session.execute(delete(OrgPolicy).where(OrgPolicy.org_id == org_id))
    db_session.execute(delete(OrgMember).where(OrgMember.org_id == org_id))
    db_session.execute(delete(Org).where(Org.id == org_id))
    db_session.commit()


def list_members(
    *, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID
) -> list[tuple[OrgMember, str]]:
    """The org's members with their emails, in joining order (members only)."""
    require_member(db_session=db_session, org_id=org_id, user_id=user_id)
    rows = db_session.execute(
        select(OrgMember, User.email)
        .join(User, User.id == OrgMember.user_id)
        .where(OrgMember.org_id == org_id)
        .order_by(OrgMember.created_at, User.email)
    )
    return [(member, email) for member, email in rows]


def add_member(
    *, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID, email: str, role: str
) -> tuple[OrgMember, str]:
    """Add a registered user by email (owners and admins; only owners grant owner)."""
    _lock_org(db_session=db_session, org_id=org_id)
    actor = require_member(db_session=db_session, org_id=org_id, user_id=user_id, roles=ADMIN_ROLES)
    if role == "owner" and actor.role != "owner":
        raise Forbidden("only an owner can make someone an owner")
    new_user_id = db_session.scalar(select(User.id).where(User.email == email))
    if new_user_id is None:
        raise NotFound(f"no account uses {email}; ask them to register first")
    member = OrgMember(org_id=org_id, user_id=new_user_id, role=role, created_at=utcnow())
    db_session.add(member)
    try:
        db_session.commit()
    except IntegrityError:
        db_session.rollback()
        raise Conflict(f"{email} is already a member of this organization") from None
    return member, email


def _require_target(*, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> OrgMember:
    target = db_session.scalar(
        select(OrgMember).where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
    )
    if target is None:
        raise NotFound("no such member")
    return target


def change_role(
    *, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID, member_id: uuid.UUID, role: str
) -> tuple[OrgMember, str]:
    """Set a member's role (owners); Conflict when it would leave the org without an owner."""
    _lock_org(db_session=db_session, org_id=org_id)
    require_member(db_session=db_session, org_id=org_id, user_id=user_id, roles=OWNER_ONLY)
    target = _require_target(db_session=db_session, org_id=org_id, user_id=member_id)
    if target.role == "owner" and role != "owner" and _owner_count(db_session=db_session, org_id=org_id) == 1:
        raise Conflict("the last owner cannot be demoted; make another member an owner first")
    target.role = role
    db_session.commit()
    email = db_session.scalars(select(User.email).where(User.id == member_id)).one()
    return target, email


def remove_member(
    *, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    """Remove a member: anyone may leave, owners and admins remove others, only owners remove owners."""
    _lock_org(db_session=db_session, org_id=org_id)
    actor = require_member(db_session=db_session, org_id=org_id, user_id=user_id)
    if member_id != user_id and actor.role not in ADMIN_ROLES:
        raise Forbidden("only owners and admins can remove other members")
    target = _require_target(db_session=db_session, org_id=org_id, user_id=member_id)
    if target.role == "owner":
        if actor.role != "owner":
            raise Forbidden("only an owner can remove an owner")
        if _owner_count(db_session=db_session, org_id=org_id) == 1:
            raise Conflict("the last owner cannot leave; make another member an owner first")
    db_session.delete(target)
    db_session.commit()


def get_policy(*, db_session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, ProviderPolicy]:
    """Every provider's policy in the org (members); a provider without a row has the defaults."""
    require_member(db_session=db_session, org_id=org_id, user_id=user_id)
    rows = db_session.scalars(select(OrgPolicy).where(OrgPolicy.org_id == org_id))
    stored = {
        row.provider: ProviderPolicy(require_org_key=row.require_org_key, forbid_platform=row.forbid_platform)
        for row in rows
    }
    return {provider: stored.get(provider, ProviderPolicy()) for provider in PROVIDERS}


def replace_policy(
    *,
    db_session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    providers: Mapping[str, ProviderPolicy],
) -> dict[str, ProviderPolicy]:
    """Replace the org's whole policy (owners and admins); omitted providers go back to defaults."""
    _lock_org(db_session=db_session, org_id=org_id)
    require_member(db_session=db_session, org_id=org_id, user_id=user_id, roles=ADMIN_ROLES)
    db_session.execute(delete(OrgPolicy).where(OrgPolicy.org_id == org_id))
    now = utcnow()
    # Only non-default rows are stored: a missing row already means "no restriction".
    db_session.add_all(
        OrgPolicy(
            org_id=org_id,
            provider=provider,
            require_org_key=policy.require_org_key,
            forbid_platform=policy.forbid_platform,
            updated_at=now,
        )
        for provider, policy in _restricted(providers)
    )
    db_session.commit()
    return get_policy(db_session=db_session, org_id=org_id, user_id=user_id)


def _restricted(providers: Mapping[str, ProviderPolicy]) -> Sequence[tuple[str, ProviderPolicy]]:
    return [(name, p) for name, p in providers.items() if p.require_org_key or p.forbid_platform]
