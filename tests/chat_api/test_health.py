"""Liveness always answers; readiness follows the database."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from chat_api.core.problems import PROBLEM_BASE
from chat_api.main import create_app
from tests.chat_api.conftest import chat_api_settings


def test_healthz_and_readyz_on_a_reachable_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none?connect_timeout=1"
    with TestClient(create_app(chat_api_settings(url, tmp_path))) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["type"] == PROBLEM_BASE + "unavailable"
    assert "secret-pw" not in response.text


def test_settings_never_show_the_database_password(tmp_path: Path) -> None:
    settings = chat_api_settings("postgresql+psycopg://u:secret-pw@db/chat", tmp_path)
    assert "secret-pw" not in repr(settings)
    assert "secret-pw" not in str(settings)
