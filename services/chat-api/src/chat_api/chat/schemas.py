"""Request and response bodies of /v1/conversations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from chat_api.core.text import NO_NUL

__all__ = [
    "ChatParameters",
    "ConversationCreate",
    "ConversationDetail",
    "ConversationRead",
    "MessageCreate",
    "MessageRead",
]

# The router's Parameters.seed is an int64; a larger number cannot be sent (it was a 500).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Text = Annotated[str, StringConstraints(min_length=1, max_length=200_000, pattern=NO_NUL)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]


class ChatParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: StrictInt | None = Field(default=None, ge=1, le=1_000_000)
    stop: list[str] | None = Field(default=None, max_length=8)
    seed: StrictInt | None = Field(default=None, ge=INT64_MIN, le=INT64_MAX)


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None


class ConversationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    created_at: datetime
    updated_at: datetime


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    role: str
    content: str
    model: str | None
    provider: str | None
    key_source: str | None
    error_type: str | None
    input_tokens: int | None
    output_tokens: int | None
    created_at: datetime


class ConversationDetail(ConversationRead):
    messages: list[MessageRead]


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Text
    model: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    parameters: ChatParameters | None = None
