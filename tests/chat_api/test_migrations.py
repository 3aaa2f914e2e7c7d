"""The Alembic migration on PostgreSQL and on a SQLite file (the `make dev` default)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from chat_api.core.db import make_engine
from chat_api.core.migrations import alembic_config, upgrade_head
from chat_api.main import create_app
from chat_api.models import Base
from tests.chat_api.conftest import chat_api_settings

TABLES = {"users", "access_tokens", "orgs", "org_members", "credentials", "outbox_events"}


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migration_upgrades_and_downgrades_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'chat-api.db'}"
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


def test_sqlite_file_directory_is_created_on_first_use(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'new' / 'dir' / 'chat-api.db'}")
    engine.dispose()
    assert Path(tmp_path / "new" / "dir").is_dir()


def test_auth_works_on_the_sqlite_dev_database(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'chat-api.db'}"
    upgrade_head(url)
    with TestClient(create_app(chat_api_settings(url, tmp_path))) as client:
        body = {"email": "ada@example.com", "password": "correct horse battery"}
        token = client.post("/v1/auth/register", json=body).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/v1/auth/logout", headers=headers).status_code == 204
        assert client.post("/v1/auth/logout", headers=headers).status_code == 401
