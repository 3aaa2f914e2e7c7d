"""Request and response bodies of Settings → API keys (/v1/keys and /v1/orgs/{org_id}/keys)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, ValidationInfo, field_validator

from chat_api.core.columns import utcnow
from chat_api.core.text import NO_NUL
from chat_api.credentials.key_shapes import normalize_key
from switchyard_common.providers import PROVIDERS

__all__ = ["KeyCreate", "KeyRead", "KeyStatus", "KeyUpdate", "KeyVerdict", "VerifyResult"]

KeyStatus = Literal["active", "invalid", "expired"]
KeyVerdict = Literal["valid", "rejected", "unreachable"]


def _future(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # a time without an offset is taken as UTC
        value = value.replace(tzinfo=UTC)
    if value <= utcnow():
        raise ValueError("expires_at must be in the future")
    return value


def _label(value: str | None) -> str | None:
    """Surrounding whitespace dropped; a blank label is no label."""
    return (value.strip() or None) if value is not None else None


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    # A SecretStr, so the key cannot reach a repr, a log line or a validation error.
    api_key: SecretStr = Field(max_length=4096)
    label: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    expires_at: datetime | None = None
    fallback_to_platform: StrictBool = False
    verify: StrictBool = False

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider; one of: {', '.join(PROVIDERS)}")
        return value

    @field_validator("api_key")
    @classmethod
    def _provider_shape(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        provider = info.data.get("provider")
        if provider is None:  # already reported as an unknown provider
            return value
        return SecretStr(normalize_key(provider, value.get_secret_value()))

    _check_expiry = field_validator("expires_at")(_future)
    _clean_label = field_validator("label")(_label)


class KeyUpdate(BaseModel):
    """Only the fields sent are changed; `expires_at: null` removes the expiry."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    fallback_to_platform: StrictBool | None = None
    expires_at: datetime | None = None

    _check_expiry = field_validator("expires_at")(_future)
    _clean_label = field_validator("label")(_label)


class KeyRead(BaseModel):
    id: uuid.UUID
    provider: str
    label: str | None
    hint: str
    status: KeyStatus
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    fallback_to_platform: bool


class VerifyResult(BaseModel):
    verdict: KeyVerdict
    message: str
    key: KeyRead
