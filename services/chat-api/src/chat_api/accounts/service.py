"""Registration, login and access tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chat_api.accounts.models import AccessToken, User
from chat_api.core.columns import utcnow
from chat_api.core.problems import Conflict, Unauthorized
from chat_api.core.security import hash_password, hash_token, new_token, verify_password

__all__ = ["IssuedToken", "authenticate", "issue_token", "login", "register", "revoke_token"]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def issue_token(*, db_session: Session, user: User, ttl: timedelta, kind: str = "session") -> IssuedToken:
    """Store a new token's hash and return the token itself, which is never stored."""
    token, now = new_token(), utcnow()
    row = AccessToken(user_id=user.id, token_hash=hash_token(token), kind=kind, expires_at=now + ttl)
    db_session.add(row)
    return IssuedToken(token=token, expires_at=row.expires_at)


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


def revoke_token(*, db_session: Session, token_id: object) -> None:
    """Mark a token revoked; it stops working at once."""
    db_session.execute(
        update(AccessToken)
        .where(AccessToken.id == token_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db_session.commit()
