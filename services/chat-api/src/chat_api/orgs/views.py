"""/v1/orgs: organisations, their members and roles, and their provider policy."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from chat_api.api.deps import CurrentUser, SessionDep
from chat_api.core.openapi import problems
from chat_api.orgs import service
from chat_api.orgs.models import Org, OrgMember
from chat_api.orgs.schemas import (
    MemberCreate,
    MemberRead,
    MemberUpdate,
    OrgCreate,
    OrgRead,
    OrgUpdate,
    PolicyDocument,
)

orgs_routes = APIRouter(prefix="/v1/orgs", tags=["orgs"], responses=problems(403, 404, 409))


def _org(org: Org, role: str) -> OrgRead:
    return OrgRead.model_validate(
        {"id": org.id, "name": org.name, "role": role, "created_at": org.created_at}
    )


def _member(member: OrgMember, email: str) -> MemberRead:
    return MemberRead.model_validate(
        {"user_id": member.user_id, "email": email, "role": member.role, "joined_at": member.created_at}
    )


@orgs_routes.post("", status_code=status.HTTP_201_CREATED)
def create_org(body: OrgCreate, user: CurrentUser, db_session: SessionDep) -> OrgRead:
    org = service.create_org(db_session=db_session, user_id=user.id, name=body.name)
    return _org(org, "owner")


@orgs_routes.get("")
def list_orgs(user: CurrentUser, db_session: SessionDep) -> list[OrgRead]:
    return [_org(org, role) for org, role in service.list_orgs(db_session=db_session, user_id=user.id)]


@orgs_routes.get("/{org_id}")
def get_org(org_id: uuid.UUID, user: CurrentUser, db_session: SessionDep) -> OrgRead:
    return _org(*service.get_org(db_session=db_session, org_id=org_id, user_id=user.id))


@orgs_routes.patch("/{org_id}")
def rename_org(org_id: uuid.UUID, body: OrgUpdate, user: CurrentUser, db_session: SessionDep) -> OrgRead:
    return _org(*service.rename_org(db_session=db_session, org_id=org_id, user_id=user.id, name=body.name))


@orgs_routes.delete("/{org_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_org(org_id: uuid.UUID, user: CurrentUser, db_session: SessionDep) -> Response:
    """Owners only; refused (409) while the org has provider keys, which must be revoked first."""
    service.delete_org(db_session=db_session, org_id=org_id, user_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@orgs_routes.get("/{org_id}/members")
def list_members(org_id: uuid.UUID, user: CurrentUser, db_session: SessionDep) -> list[MemberRead]:
    rows = service.list_members(db_session=db_session, org_id=org_id, user_id=user.id)
    return [_member(member, email) for member, email in rows]


@orgs_routes.post("/{org_id}/members", status_code=status.HTTP_201_CREATED)
def add_member(
    org_id: uuid.UUID, body: MemberCreate, user: CurrentUser, db_session: SessionDep
) -> MemberRead:
    """Owners and admins add a registered user by email; only an owner can grant owner."""
    member, email = service.add_member(
        db_session=db_session, org_id=org_id, user_id=user.id, email=body.email, role=body.role
    )
    return _member(member, email)


@orgs_routes.patch("/{org_id}/members/{member_id}")
def change_role(
    org_id: uuid.UUID, member_id: uuid.UUID, body: MemberUpdate, user: CurrentUser, db_session: SessionDep
) -> MemberRead:
    """Owners only; the last owner cannot be demoted."""
    member, email = service.change_role(
        db_session=db_session, org_id=org_id, user_id=user.id, member_id=member_id, role=body.role
    )
    return _member(member, email)


@orgs_routes.delete("/{org_id}/members/{member_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    org_id: uuid.UUID, member_id: uuid.UUID, user: CurrentUser, db_session: SessionDep
) -> Response:
    """Anyone may leave; owners and admins remove others; only owners remove owners; the last owner
    cannot leave."""
    service.remove_member(db_session=db_session, org_id=org_id, user_id=user.id, member_id=member_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@orgs_routes.get("/{org_id}/policy")
def get_policy(org_id: uuid.UUID, user: CurrentUser, db_session: SessionDep) -> PolicyDocument:
    """Every provider's policy (members); see PUT for what the flags mean."""
    return PolicyDocument(providers=service.get_policy(db_session=db_session, org_id=org_id, user_id=user.id))


@orgs_routes.put("/{org_id}/policy")
def replace_policy(
    org_id: uuid.UUID, body: PolicyDocument, user: CurrentUser, db_session: SessionDep
) -> PolicyDocument:
    """Replace the whole policy (owners and admins); a provider left out goes back to the defaults.

    Per provider, for requests made on behalf of the org:
    - `require_org_key`: members must use the org's key for this provider; neither a member's
      personal key nor platform access is used, so without an org key the request is refused.
    - `forbid_platform`: platform access is never used for this provider; the org's or the
      member's own key still may be.
    Both default to false: no restriction.
    """
    providers = service.replace_policy(
        db_session=db_session, org_id=org_id, user_id=user.id, providers=body.providers
    )
    return PolicyDocument(providers=providers)
