"""Dependencies routes declare with `Annotated` aliases: settings, a DB session, the current user."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from chat_api.accounts.auth_cache import CachedAuth
from chat_api.accounts.models import AccessToken, User
from chat_api.accounts.service import authenticate, authenticate_digest
from chat_api.core.config import Settings
from chat_api.core.problems import Unauthorized
from chat_api.core.security import hash_token
from chat_api.core.services import Services

__all__ = ["CurrentCaller", "CurrentToken", "CurrentUser", "ServicesDep", "SessionDep", "SettingsDep"]

_bearer = HTTPBearer(auto_error=False)


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` one in a worker thread.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return _services_of(request)


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ServicesDep = Annotated[Services, Depends(get_services)]


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token_of(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("an `Authorization: Bearer <token>` header is required")
    return credentials.credentials


def get_auth(db_session: SessionDep, credentials: Bearer) -> tuple[User, AccessToken]:
    return authenticate(db_session=db_session, token=_token_of(credentials))


def _authenticate_digest(services: Services, digest: bytes) -> CachedAuth:
    with services.sessions() as db_session:
        return authenticate_digest(db_session=db_session, digest=digest)


async def get_caller(request: Request, credentials: Bearer) -> CachedAuth:
    """The bearer's identity for hot paths: from the auth cache, else one query in a worker thread.

    An async dependency, so a cache hit costs no thread hop and no connection.
    """
    digest = hash_token(_token_of(credentials))
    services = _services_of(request)
    cached = services.auth_cache.get(digest)
    if cached is not None:
        return cached
    epoch = services.auth_cache.epoch
    found = await anyio.to_thread.run_sync(partial(_authenticate_digest, services, digest))
    services.auth_cache.put(digest, found, epoch=epoch)
    return found


async def get_current_user(auth: Annotated[tuple[User, AccessToken], Depends(get_auth)]) -> User:
    return auth[0]


async def get_current_token(auth: Annotated[tuple[User, AccessToken], Depends(get_auth)]) -> AccessToken:
    return auth[1]


CurrentUser = Annotated[User, Depends(get_current_user)]
CurrentToken = Annotated[AccessToken, Depends(get_current_token)]
CurrentCaller = Annotated[CachedAuth, Depends(get_caller)]
