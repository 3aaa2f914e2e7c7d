"""Org policies, conversations and messages, idempotency records, usage and quota counters;
credentials gain `revoking_at` (set when a DELETE starts, so new requests stop picking the key).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(column: str, table: str, source: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{table}.id"], name=f"fk_{source}_{column}_{table}", ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(_ts("revoking_at", nullable=True))
    op.create_table(
        "org_policies",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("require_org_key", sa.Boolean(), nullable=False),
        sa.Column("forbid_platform", sa.Boolean(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("org_id", "provider", name="pk_org_policies"),
        _fk("org_id", "orgs", "org_policies"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        _fk("user_id", "users", "conversations"),
    )
    op.create_index("ix_conversations_user_id", "conversations", ["user_id"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("model", sa.String(120), nullable=True),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("key_source", sa.String(16), nullable=True),
        sa.Column("error_type", sa.String(64), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        _fk("conversation_id", "conversations", "messages"),
        sa.CheckConstraint("role IN ('user', 'assistant')", name="ck_messages_role"),
    )
    op.create_index("ix_messages_conversation_id", "messages", ["conversation_id"])
    op.create_table(
        "idempotency_records",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_records"),
        _fk("user_id", "users", "idempotency_records"),
        sa.CheckConstraint("status IN ('pending', 'done')", name="ck_idempotency_records_status"),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model", sa.String(120), nullable=False),
        sa.Column("key_source", sa.String(16), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(14, 8), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_usage_records"),
        _fk("user_id", "users", "usage_records"),
        sa.CheckConstraint("key_source IN ('user', 'org', 'platform')", name="ck_usage_records_key_source"),
    )
    op.create_index("ix_usage_records_user_id", "usage_records", ["user_id", "created_at"])
    op.create_table(
        "quota_counters",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("platform_tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "period", name="pk_quota_counters"),
        _fk("user_id", "users", "quota_counters"),
    )


def downgrade() -> None:
    for table in (
        "quota_counters",
        "usage_records",
        "idempotency_records",
        "messages",
        "conversations",
        "org_policies",
    ):
        op.drop_table(table)
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("revoking_at")
