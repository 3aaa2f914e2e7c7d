"""Column helpers shared by every table: UUID keys and timezone-aware UTC timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from sqlalchemy import DateTime
from sqlalchemy.orm import mapped_column

__all__ = ["UUIDPk", "Timestamp", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


UUIDPk = Annotated[uuid.UUID, mapped_column(primary_key=True, default=uuid.uuid4)]
Timestamp = Annotated[datetime, mapped_column(DateTime(timezone=True), default=utcnow)]
