"""Liveness always answers; readiness names each missing dependency (the whole stack: test_readiness.py)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from chat_api.core.config import Settings
from chat_api.core.problems import PROBLEM_BASE
from chat_api.main import create_app
from tests.chat_api.conftest import chat_api_settings
from tests.support.ports import free_port


def test_readyz_names_only_the_missing_dependencies(database_url: str, tmp_path: Path) -> None:
    # The database is up; NATS is a closed port and the router's certificates do not exist.
    settings = chat_api_settings(database_url, tmp_path, nats_url=f"nats://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM_BASE + "unavailable"
    assert response.json()["failed"] == ["nats", "router"]


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none?connect_timeout=1"
    with TestClient(create_app(chat_api_settings(url, tmp_path))) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["type"] == PROBLEM_BASE + "unavailable"
    assert "database" in response.json()["failed"]
    assert "secret-pw" not in response.text
    assert "127.0.0.1:1" not in response.text


def test_settings_never_show_the_database_password(tmp_path: Path) -> None:
    settings = chat_api_settings("postgresql+psycopg://u:secret-pw@db/chat", tmp_path)
    assert "secret-pw" not in repr(settings)
    assert "secret-pw" not in str(settings)


@pytest.mark.parametrize(
    "url",
    [None, "sqlite+pysqlite:///./.dev/chat-api.db", "mysql://u:secret-pw@db/chat"],
    ids=["missing", "sqlite", "mysql"],
)
def test_the_database_must_be_postgresql(
    url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chat-api runs on PostgreSQL alone: no default URL, and no other engine's URL is accepted."""
    monkeypatch.delenv("CHAT_API_DATABASE_URL", raising=False)
    if url is not None:
        monkeypatch.setenv("CHAT_API_DATABASE_URL", url)
    tls = {f"tls_{name}_file": tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    with pytest.raises(ValidationError) as refused:
        Settings(**tls)  # type: ignore[arg-type]
    assert [error["loc"] for error in refused.value.errors()] == [("database_url",)]
    assert "secret-pw" not in str(refused.value)


def test_a_dropped_database_connection_is_a_clean_503_and_the_pool_recovers(
    client: TestClient, migrated_postgres_url: str
) -> None:
    token = client.post("/v1/auth/register", json={"email": "drop@example.com", "password": "x" * 12})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/v1/me", headers=headers).status_code == 200  # a pooled connection now exists
    with psycopg.connect(migrated_postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    # No pre-ping: the request that meets the dead connection fails, cleanly; the pool then recovers.
    statuses = [client.get("/v1/me", headers=headers) for _ in range(3)]
    for response in statuses:
        if response.status_code != 200:
            assert response.status_code == 503, response.text
            assert response.json()["type"] == PROBLEM_BASE + "unavailable"
    assert sum(r.status_code == 503 for r in statuses) <= 1
    assert statuses[-1].status_code == 200
