"""Request and response bodies of /v1/orgs: organisations, members and provider policy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

from chat_api.accounts.models import Email, MembershipRead
from chat_api.core.text import NO_NUL
from switchyard_common.providers import PROVIDERS

__all__ = [
    "MemberCreate",
    "MemberRead",
    "MemberUpdate",
    "OrgCreate",
    "OrgRead",
    "OrgUpdate",
    "PolicyDocument",
    "ProviderPolicy",
    "Role",
]

Role = Literal["owner", "admin", "member"]
OrgName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]


class OrgCreate(BaseModel):
    name: OrgName


class OrgUpdate(BaseModel):
    name: OrgName


class OrgRead(MembershipRead):
    """An org as one of its members sees it: with that member's role."""

    role: Role
    created_at: datetime


class MemberCreate(BaseModel):
    email: Email
    role: Role = "member"


class MemberUpdate(BaseModel):
    role: Role


class MemberRead(BaseModel):
    user_id: uuid.UUID
    email: str
    role: Role
    joined_at: datetime


class ProviderPolicy(BaseModel):
    # Unknown fields are refused: a misspelt flag silently read as false would loosen the policy.
    model_config = ConfigDict(extra="forbid")

    require_org_key: StrictBool = False
    forbid_platform: StrictBool = False


class PolicyDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderPolicy] = Field(default_factory=dict)

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: dict[str, ProviderPolicy]) -> dict[str, ProviderPolicy]:
        unknown = sorted(set(value) - set(PROVIDERS))
        if unknown:
            raise ValueError(f"unknown providers: {', '.join(unknown)}; known: {', '.join(PROVIDERS)}")
        return value
