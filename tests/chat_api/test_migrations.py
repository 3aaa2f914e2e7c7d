"""The Alembic migration on PostgreSQL: up, down and up again, and the schema it makes matches the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from chat_api.core.migrations import alembic_config, upgrade_head
from chat_api.models import Base
from tests.support.postgres import sqlalchemy_url

TABLES = {"users", "access_tokens", "orgs", "org_members", "credentials", "outbox_events"}


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migration_upgrades_and_downgrades(postgres_url: str) -> None:
    url = sqlalchemy_url(postgres_url)
    upgrade_head(url)
    assert tables(url) >= TABLES
    command.downgrade(alembic_config(url), "base")
    assert not tables(url) & TABLES
    upgrade_head(url)
    assert tables(url) >= TABLES


def test_migration_on_postgresql_matches_the_models(database_url: str) -> None:
    assert tables(database_url) >= TABLES
    engine = create_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []
