"""Users and access tokens (tables), and the request/response schemas of /v1/auth, /v1/tokens, /v1/me."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from chat_api.core.columns import Timestamp, UUIDPk
from chat_api.core.db import Base
from chat_api.core.text import NO_NUL

__all__ = [
    "AccessToken",
    "ApiTokenCreate",
    "ApiTokenCreated",
    "ApiTokenRead",
    "Credentials",
    "Email",
    "MeRead",
    "MembershipRead",
    "Registered",
    "TokenRead",
    "User",
    "UserRead",
]

# Deliberately loose: one @, no spaces, a dot in the domain. Delivery is the real check. No NUL,
# which PostgreSQL cannot store in a text column.
EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")


def _normalise_email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL.match(value):
        raise ValueError("not an email address")
    return value


# Lowercased like the `users.email` column, so lookups by email match whatever case was typed.
Email = Annotated[str, Field(max_length=320), AfterValidator(_normalise_email)]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[UUIDPk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[Timestamp]


class AccessToken(Base):
    __tablename__ = "access_tokens"
    __table_args__ = (CheckConstraint("kind IN ('session', 'api')", name="kind"),)

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[Timestamp]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Credentials(BaseModel):
    email: Email
    password: str = Field(min_length=10, max_length=256)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    created_at: datetime


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_at: datetime


class Registered(TokenRead):
    user: UserRead


class ApiTokenCreate(BaseModel):
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
    ]
    # None means the default, capped by settings.api_token_max_ttl_days (checked by the route).
    expires_in_days: StrictInt | None = Field(default=None, ge=1)


class ApiTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: datetime
    expires_at: datetime


class ApiTokenCreated(ApiTokenRead):
    token: str


class MembershipRead(BaseModel):
    """One of the caller's orgs, with the caller's role in it."""

    id: uuid.UUID
    name: str
    role: str


class MeRead(BaseModel):
    user: UserRead
    orgs: list[MembershipRead]
