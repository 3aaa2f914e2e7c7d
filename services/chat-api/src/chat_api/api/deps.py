"""Dependencies routes declare with `Annotated` aliases: settings, a DB session, the current user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from chat_api.accounts.models import AccessToken, User
from chat_api.accounts.service import authenticate
from chat_api.core.config import Settings
from chat_api.core.problems import Unauthorized
from chat_api.core.services import Services

__all__ = ["CurrentToken", "CurrentUser", "ServicesDep", "SessionDep", "SettingsDep"]

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ServicesDep = Annotated[Services, Depends(get_services)]


def get_auth(
    db_session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[User, AccessToken]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("an `Authorization: Bearer <token>` header is required")
    return authenticate(db_session=db_session, token=credentials.credentials)


def get_current_user(auth: Annotated[tuple[User, AccessToken], Depends(get_auth)]) -> User:
    return auth[0]


def get_current_token(auth: Annotated[tuple[User, AccessToken], Depends(get_auth)]) -> AccessToken:
    return auth[1]


CurrentUser = Annotated[User, Depends(get_current_user)]
CurrentToken = Annotated[AccessToken, Depends(get_current_token)]
