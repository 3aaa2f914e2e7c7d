"""Organisations, their members and their per-provider policies."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from chat_api.core.columns import Timestamp, UUIDPk
from chat_api.core.db import Base

__all__ = ["Org", "OrgMember", "OrgPolicy"]


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[Timestamp]


class OrgMember(Base):
    __tablename__ = "org_members"
    __table_args__ = (CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp]


class OrgPolicy(Base):
    """How the org's members may reach one provider."""

    __tablename__ = "org_policies"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    require_org_key: Mapped[bool] = mapped_column(Boolean, default=False)
    forbid_platform: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[Timestamp]
