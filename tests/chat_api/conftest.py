"""chat-api on a freshly migrated real PostgreSQL database, driven in-process through TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import URL

from chat_api.core.config import Settings
from chat_api.core.migrations import upgrade_head
from chat_api.main import create_app


def sqlalchemy_url(conninfo: str) -> str:
    """The `postgresql+psycopg://` URL for a libpq connection string."""
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    port = info.get("port")
    return URL.create(
        "postgresql+psycopg",
        username=str(info["user"]) if info.get("user") else None,
        password=str(info["password"]) if info.get("password") else None,
        host=str(info.get("host") or "127.0.0.1"),
        port=int(str(port)) if port else None,
        database=str(info["dbname"]),
    ).render_as_string(hide_password=False)


def chat_api_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    # The mTLS files are not opened until chat-api dials router/keyvault, which this slice never does.
    tls = {f"tls_{name}_file": tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    return Settings(database_url=SecretStr(database_url), **tls, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def database_url(postgres_url: str) -> str:
    url = sqlalchemy_url(postgres_url)
    upgrade_head(url)
    return url


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(chat_api_settings(database_url, tmp_path))) as test_client:
        yield test_client
