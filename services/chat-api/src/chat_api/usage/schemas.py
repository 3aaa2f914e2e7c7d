"""The response of GET /v1/usage."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["QuotaRead", "UsageGroupRead", "UsageRead", "UsageTotals"]


class UsageTotals(BaseModel):
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class UsageGroupRead(UsageTotals):
    key: str | None


class QuotaRead(BaseModel):
    period: str
    platform_tokens_used: int
    platform_tokens_limit: int
    platform_tokens_remaining: int


class UsageRead(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    group_by: str
    groups: list[UsageGroupRead]
    total: UsageTotals
    quota: QuotaRead
