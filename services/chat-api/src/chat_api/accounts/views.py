"""/v1/auth: register, login, logout."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response, status

from chat_api.accounts import service
from chat_api.accounts.models import Credentials, Registered, TokenRead, UserRead
from chat_api.api.deps import CurrentToken, ServicesDep, SessionDep, SettingsDep
from chat_api.core.openapi import problems

# 401: wrong email or password at login; 409: registering an email that has an account.
auth_routes = APIRouter(prefix="/v1/auth", tags=["auth"], responses=problems(401, 409, 429))


@auth_routes.post("/register", status_code=status.HTTP_201_CREATED)
def register(body: Credentials, db_session: SessionDep, settings: SettingsDep) -> Registered:
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    user, issued = service.register(db_session=db_session, email=body.email, password=body.password, ttl=ttl)
    return Registered(
        user=UserRead.model_validate(user), access_token=issued.token, expires_at=issued.expires_at
    )


@auth_routes.post("/login")
def login(body: Credentials, db_session: SessionDep, settings: SettingsDep) -> TokenRead:
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    issued = service.login(db_session=db_session, email=body.email, password=body.password, ttl=ttl)
    return TokenRead(access_token=issued.token, expires_at=issued.expires_at)


@auth_routes.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(token: CurrentToken, db_session: SessionDep, services: ServicesDep) -> Response:
    service.revoke_token(db_session=db_session, token_id=token.id)
    services.auth_cache.forget_token(token.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
