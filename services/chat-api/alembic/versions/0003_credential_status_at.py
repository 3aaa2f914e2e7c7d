"""credentials gain `status_at`: when the last verdict (verify, or a provider's rejection during a
chat) set the status, so a success recorded later by the batched usage writer, from a call that
started before that verdict, cannot turn an `invalid` key back to `active`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("credentials", sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("credentials", "status_at")
