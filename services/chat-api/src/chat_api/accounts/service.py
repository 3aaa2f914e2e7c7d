"""Registration, login, session tokens and personal API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chat_api.accounts.auth_cache import CachedAuth
from chat_api.accounts.models import AccessToken, User
from chat_api.core.columns import utcnow
from chat_api.core.problems import Conflict, NotFound, Unauthorized
from chat_api.core.security import hash_password, hash_token, new_token, verify_password

__all__ = [
    "API_TOKEN_PREFIX",
    "IssuedToken",
    "authenticate",
    "authenticate_digest",
    "create_api_token",
    "issue_token",
    "list_api_tokens",
    "login",
    "register",
    "revoke_api_token",
    "revoke_token",
]

# A fixed prefix lets secret scanners (and people) recognise a leaked Switchyard API token.
API_TOKEN_PREFIX = "sy_"  # noqa: S105 - a public marker, not a secret


@dataclass(frozen=True)
class IssuedToken:
    id: uuid.UUID
    token: str
    created_at: datetime
    expires_at: datetime


def issue_token(
    *, db_session: Session, user: User, ttl: timedelta, kind: str = "session", name: str | None = None
) -> IssuedToken:
    """Store a new token's hash and return the token itself, which is never stored."""
    token = (API_TOKEN_PREFIX if kind == "api" else "") + new_token()
    now = utcnow()
    row = AccessToken(
        id=uuid.uuid4(),
        user_id=user.id,
        token_hash=hash_token(token),
        kind=kind,
        name=name,
        created_at=now,
        expires_at=now + ttl,
    )
    db_session.add(row)
    return IssuedToken(id=row.id, token=token, created_at=now, expires_at=row.expires_at)


def register(*, db_session: Session, email: str, password: str, ttl: timedelta) -> tuple[User, IssuedToken]:
    """Create a user and a first session token; Conflict when the email is taken."""
    user = User(email=email, password_hash=hash_password(password), created_at=utcnow())
    db_session.add(user)
    try:
        db_session.flush()
    except IntegrityError:
        db_session.rollback()
        raise Conflict("an account with this email already exists") from None
    issued = issue_token(db_session=db_session, user=user, ttl=ttl)
    db_session.commit()
    return user, issued


def login(*, db_session: Session, email: str, password: str, ttl: timedelta) -> IssuedToken:
    """A new session token; Unauthorized for an unknown email or a wrong password alike."""
    user = db_session.scalar(select(User).where(User.email == email))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise Unauthorized("wrong email or password")
    issued = issue_token(db_session=db_session, user=user, ttl=ttl)
    db_session.commit()
    return issued


def authenticate(*, db_session: Session, token: str) -> tuple[User, AccessToken]:
    """The user a live (unexpired, unrevoked) token belongs to; Unauthorized otherwise."""
    found = db_session.execute(
        select(User, AccessToken)
        .join(AccessToken, AccessToken.user_id == User.id)
        .where(
            AccessToken.token_hash == hash_token(token),
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > utcnow(),
        )
    ).first()
    if found is None:
        raise Unauthorized("missing, expired or revoked access token")
    return found[0], found[1]


def authenticate_digest(*, db_session: Session, digest: bytes) -> CachedAuth:
    """`authenticate` by the token's SHA-256, reading only what the chat path needs."""
    found = db_session.execute(
        select(AccessToken.user_id, AccessToken.id, AccessToken.kind, AccessToken.expires_at)
        .join(User, AccessToken.user_id == User.id)
        .where(
            AccessToken.token_hash == digest,
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > utcnow(),
        )
    ).first()
    if found is None:
        raise Unauthorized("missing, expired or revoked access token")
    return CachedAuth(user_id=found[0], token_id=found[1], kind=found[2], expires_at=found[3])


def revoke_token(*, db_session: Session, token_id: object) -> None:
    """Mark a token revoked; it stops working at once."""
    db_session.execute(
        update(AccessToken)
        .where(AccessToken.id == token_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db_session.commit()


def create_api_token(*, db_session: Session, user: User, name: str, ttl: timedelta) -> IssuedToken:
    """A named personal API token; the token itself is returned this once and never again."""
    issued = issue_token(db_session=db_session, user=user, ttl=ttl, kind="api", name=name)
    db_session.commit()
    return issued


def list_api_tokens(*, db_session: Session, user_id: uuid.UUID) -> Sequence[AccessToken]:
    """The user's unrevoked API tokens (expired ones included), newest first."""
    query = (
        select(AccessToken)
        .where(AccessToken.user_id == user_id, AccessToken.kind == "api", AccessToken.revoked_at.is_(None))
        .order_by(AccessToken.created_at.desc(), AccessToken.id)
    )
    return db_session.scalars(query).all()


def revoke_api_token(*, db_session: Session, user_id: uuid.UUID, token_id: uuid.UUID) -> None:
    """Revoke one of the user's API tokens; NotFound for anyone else's, a session's or a revoked one."""
    revoked = db_session.scalar(
        update(AccessToken)
        .where(
            AccessToken.id == token_id,
            AccessToken.user_id == user_id,
            AccessToken.kind == "api",
            AccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .returning(AccessToken.id)
    )
    if revoked is None:
        db_session.rollback()
        raise NotFound("no such API token")
    db_session.commit()
