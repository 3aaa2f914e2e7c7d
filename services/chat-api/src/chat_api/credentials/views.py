"""Settings → API keys: /v1/keys for a user's own keys, /v1/orgs/{org_id}/keys for an org's."""

# No `from __future__ import annotations`: the routes are built per owner inside `_add_key_routes`,
# and FastAPI can only resolve a closure's dependency in an annotation evaluated at definition.

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from chat_api.api.deps import CurrentUser, ServicesDep, SessionDep
from chat_api.core.openapi import problems
from chat_api.credentials import revocation, service
from chat_api.credentials.schemas import KeyCreate, KeyRead, KeyUpdate, VerifyResult
from chat_api.credentials.service import Owner
from chat_api.limits.rate import limit_key_checks
from chat_api.orgs.service import ADMIN_ROLES, require_member
from switchyard_common.envelope import OwnerType

__all__ = ["keys_routes", "org_keys_routes"]

# 403: org members (not admins); 409: a concurrent add or an unusable key; 422/502/503: verification.
_KEY_PROBLEMS = problems(403, 404, 409, 422, 429, 502)
keys_routes = APIRouter(prefix="/v1/keys", tags=["keys"], responses=_KEY_PROBLEMS)
org_keys_routes = APIRouter(prefix="/v1/orgs/{org_id}/keys", tags=["org keys"], responses=_KEY_PROBLEMS)


def user_owner(user: CurrentUser) -> Owner:
    return Owner(OwnerType.USER, user.id)


def org_owner(org_id: uuid.UUID, user: CurrentUser, db_session: SessionDep) -> Owner:
    """An org's keys are managed by its owners and admins; members get 403, anyone else 404."""
    require_member(db_session=db_session, org_id=org_id, user_id=user.id, roles=ADMIN_ROLES)
    return Owner(OwnerType.ORG, org_id)


def _add_key_routes(routes: APIRouter, resolve_owner: Callable[..., Owner]) -> None:
    """The same six endpoints for every kind of owner."""

    @routes.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(limit_key_checks)])
    async def add_key(
        body: KeyCreate,
        owner: Annotated[Owner, Depends(resolve_owner)],
        db_session: SessionDep,
        services: ServicesDep,
    ) -> KeyRead:
        row = await service.add(services=services, db_session=db_session, owner=owner, body=body)
        return service.key_read(row)

    @routes.get("")
    def list_keys(owner: Annotated[Owner, Depends(resolve_owner)], db_session: SessionDep) -> list[KeyRead]:
        return [service.key_read(row) for row in service.list_keys(db_session=db_session, owner=owner)]

    @routes.get("/{key_id}")
    def get_key(
        key_id: uuid.UUID, owner: Annotated[Owner, Depends(resolve_owner)], db_session: SessionDep
    ) -> KeyRead:
        return service.key_read(service.get(db_session=db_session, owner=owner, key_id=key_id))

    @routes.patch("/{key_id}")
    def update_key(
        key_id: uuid.UUID,
        body: KeyUpdate,
        owner: Annotated[Owner, Depends(resolve_owner)],
        db_session: SessionDep,
    ) -> KeyRead:
        row = service.update_key(db_session=db_session, owner=owner, key_id=key_id, changes=body)
        return service.key_read(row)

    @routes.post("/{key_id}/verify", dependencies=[Depends(limit_key_checks)])
    async def verify_key(
        key_id: uuid.UUID,
        owner: Annotated[Owner, Depends(resolve_owner)],
        user: CurrentUser,
        db_session: SessionDep,
        services: ServicesDep,
    ) -> VerifyResult:
        return await service.verify(
            services=services, db_session=db_session, owner=owner, user_id=user.id, key_id=key_id
        )

    @routes.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_key(
        key_id: uuid.UUID,
        owner: Annotated[Owner, Depends(resolve_owner)],
        db_session: SessionDep,
        services: ServicesDep,
    ) -> Response:
        await revocation.revoke(services=services, db_session=db_session, owner=owner, key_id=key_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)


_add_key_routes(keys_routes, user_owner)
_add_key_routes(org_keys_routes, org_owner)
