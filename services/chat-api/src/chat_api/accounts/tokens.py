"""/v1/tokens: personal API tokens for programmatic clients; /v1/me: who the bearer is."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Response, status
from fastapi.exceptions import RequestValidationError

from chat_api.accounts import service
from chat_api.accounts.models import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    MembershipRead,
    MeRead,
    UserRead,
)
from chat_api.api.deps import CurrentToken, CurrentUser, ServicesDep, SessionDep, SettingsDep
from chat_api.core.openapi import problems
from chat_api.core.problems import Forbidden
from chat_api.orgs.service import list_orgs

tokens_routes = APIRouter(prefix="/v1", tags=["tokens"], responses=problems(403, 404))

DEFAULT_TTL_DAYS = 90


def _ttl_days(requested: int | None, max_days: int) -> int:
    if requested is None:
        return min(DEFAULT_TTL_DAYS, max_days)
    if requested > max_days:
        # The same 422 shape as the schema's own checks, though the limit comes from settings.
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "expires_in_days"),
                    "msg": f"must be at most {max_days}",
                    "type": "value_error",
                }
            ]
        )
    return requested


@tokens_routes.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(
    body: ApiTokenCreate,
    user: CurrentUser,
    bearer: CurrentToken,
    db_session: SessionDep,
    settings: SettingsDep,
) -> ApiTokenCreated:
    """A new API token, usable as `Authorization: Bearer`; it is shown in this response only."""
    if bearer.kind != "session":
        # A leaked API token must not be able to mint successors that outlive its revocation.
        raise Forbidden("API tokens are created from a signed-in session, not with another API token")
    days = _ttl_days(body.expires_in_days, settings.api_token_max_ttl_days)
    issued = service.create_api_token(
        db_session=db_session, user=user, name=body.name, ttl=timedelta(days=days)
    )
    return ApiTokenCreated(
        id=issued.id,
        name=body.name,
        token=issued.token,
        created_at=issued.created_at,
        expires_at=issued.expires_at,
    )


@tokens_routes.get("/tokens")
def list_tokens(user: CurrentUser, db_session: SessionDep) -> list[ApiTokenRead]:
    """The caller's unrevoked API tokens, without the tokens themselves."""
    return [
        ApiTokenRead.model_validate(row)
        for row in service.list_api_tokens(db_session=db_session, user_id=user.id)
    ]


@tokens_routes.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    token_id: uuid.UUID, user: CurrentUser, db_session: SessionDep, services: ServicesDep
) -> Response:
    """Revoke one of the caller's API tokens; it stops working at once."""
    service.revoke_api_token(db_session=db_session, user_id=user.id, token_id=token_id)
    services.auth_cache.forget_token(token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@tokens_routes.get("/me", tags=["auth"])
def me(user: CurrentUser, db_session: SessionDep) -> MeRead:
    """The caller and the orgs they belong to, with their role in each."""
    orgs = [
        MembershipRead(id=org.id, name=org.name, role=role)
        for org, role in list_orgs(db_session=db_session, user_id=user.id)
    ]
    return MeRead(user=UserRead.model_validate(user), orgs=orgs)
