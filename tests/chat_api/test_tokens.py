"""Personal API tokens: shown once, stored hashed, usable as bearer tokens until revoked or expired."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from chat_api.main import create_app
from tests.chat_api.conftest import chat_api_settings
from tests.support.accounts import Account, assert_problem, run_sql, signup


def new_token(client: TestClient, owner: Account, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/tokens", json={"name": "ci", **body}, headers=owner.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_token(database_url: str, token_id: str) -> tuple[bytes, str, str]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT token_hash, kind, name FROM access_tokens WHERE id = :id"),
            {"id": uuid.UUID(token_id)},
        ).one()
    engine.dispose()
    return bytes(row[0]), row[1], row[2]


def test_a_new_token_is_shown_once_and_works_as_a_bearer_token(client: TestClient, database_url: str) -> None:
    ada = signup(client, "ada")
    created = new_token(client, ada, name="  laptop script  ")
    assert set(created) == {"id", "name", "token", "created_at", "expires_at"}
    assert created["name"] == "laptop script"
    assert created["token"].startswith("sy_")
    assert len(created["token"]) >= 40

    me = client.get("/v1/me", headers=bearer(created["token"]))
    assert me.status_code == 200
    assert me.json()["user"]["id"] == ada.id
    assert client.post("/v1/orgs", json={"name": "Acme"}, headers=bearer(created["token"])).status_code == 201

    token_hash, kind, name = stored_token(database_url, created["id"])
    assert (kind, name) == ("api", "laptop script")
    assert token_hash == hashlib.sha256(created["token"].encode()).digest()

    listed = client.get("/v1/tokens", headers=ada.headers).json()
    assert listed == [{k: created[k] for k in ("id", "name", "created_at", "expires_at")}]
    assert created["token"] not in client.get("/v1/tokens", headers=bearer(created["token"])).text


def test_revoked_tokens_stop_working_at_once_and_leave_the_list(client: TestClient) -> None:
    ada = signup(client, "ada")
    kept, revoked = new_token(client, ada, name="kept"), new_token(client, ada, name="revoked")
    response = client.delete(f"/v1/tokens/{revoked['id']}", headers=ada.headers)
    assert response.status_code == 204
    assert_problem(client.get("/v1/me", headers=bearer(revoked["token"])), 401, "unauthorized")
    assert [t["name"] for t in client.get("/v1/tokens", headers=ada.headers).json()] == ["kept"]
    assert client.get("/v1/me", headers=bearer(kept["token"])).status_code == 200
    assert_problem(client.delete(f"/v1/tokens/{revoked['id']}", headers=ada.headers), 404, "not-found")


def test_a_token_may_revoke_itself(client: TestClient) -> None:
    ada = signup(client, "ada")
    created = new_token(client, ada)
    assert client.delete(f"/v1/tokens/{created['id']}", headers=bearer(created["token"])).status_code == 204
    assert_problem(client.get("/v1/tokens", headers=bearer(created["token"])), 401, "unauthorized")


def test_expired_tokens_are_refused_but_still_listed(client: TestClient, database_url: str) -> None:
    ada = signup(client, "ada")
    created = new_token(client, ada)
    run_sql(
        database_url,
        "UPDATE access_tokens SET expires_at = :past WHERE id = :id",
        past=datetime.now(UTC) - timedelta(seconds=1),
        id=uuid.UUID(created["id"]),
    )
    assert_problem(client.get("/v1/me", headers=bearer(created["token"])), 401, "unauthorized")
    assert [t["id"] for t in client.get("/v1/tokens", headers=ada.headers).json()] == [created["id"]]


def test_expiry_defaults_to_90_days_and_is_bounded(client: TestClient) -> None:
    ada = signup(client, "ada")
    default = new_token(client, ada)
    lifetime = datetime.fromisoformat(default["expires_at"]) - datetime.fromisoformat(default["created_at"])
    assert lifetime == timedelta(days=90)
    short = new_token(client, ada, expires_in_days=1)
    lifetime = datetime.fromisoformat(short["expires_at"]) - datetime.fromisoformat(short["created_at"])
    assert lifetime == timedelta(days=1)
    longest = new_token(client, ada, expires_in_days=365)
    assert datetime.fromisoformat(longest["expires_at"]) > datetime.now(UTC) + timedelta(days=364)


def test_the_configured_maximum_caps_the_lifetime_and_the_default(database_url: str, tmp_path: Path) -> None:
    settings = chat_api_settings(database_url, tmp_path, api_token_max_ttl_days=30)
    with TestClient(create_app(settings)) as client:
        ada = signup(client, "ada")
        default = new_token(client, ada)
        lifetime = datetime.fromisoformat(default["expires_at"]) - datetime.fromisoformat(
            default["created_at"]
        )
        assert lifetime == timedelta(days=30)
        too_long = client.post("/v1/tokens", json={"name": "ci", "expires_in_days": 31}, headers=ada.headers)
        assert_problem(too_long, 422, "validation")
        assert too_long.json()["errors"][0]["loc"] == ["body", "expires_in_days"]


@pytest.mark.parametrize("body", [
    {"name": "ci", "expires_in_days": 0},
    {"name": "ci", "expires_in_days": 366},
    {"name": "ci", "expires_in_days": "forever"},
    {"name": "   "},
    {"name": "x" * 201},
    {},
])  # fmt: skip
def test_invalid_token_requests_are_validation_problems(client: TestClient, body: dict[str, Any]) -> None:
    ada = signup(client, "ada")
    assert_problem(client.post("/v1/tokens", json=body, headers=ada.headers), 422, "validation")
    assert client.get("/v1/tokens", headers=ada.headers).json() == []


def test_users_cannot_see_or_revoke_each_others_tokens(client: TestClient) -> None:
    ada, bob = signup(client, "ada"), signup(client, "bob")
    adas = new_token(client, ada)
    assert_problem(client.delete(f"/v1/tokens/{adas['id']}", headers=bob.headers), 404, "not-found")
    assert_problem(client.delete(f"/v1/tokens/{uuid.uuid4()}", headers=bob.headers), 404, "not-found")
    assert client.get("/v1/tokens", headers=bob.headers).json() == []
    assert client.get("/v1/me", headers=bearer(adas["token"])).status_code == 200


def test_session_tokens_are_neither_listed_nor_revocable_here(client: TestClient, database_url: str) -> None:
    ada = signup(client, "ada")
    engine = create_engine(database_url)
    with engine.connect() as connection:
        session_id = connection.execute(
            text("SELECT id FROM access_tokens WHERE kind = 'session'")
        ).scalar_one()
    engine.dispose()
    assert client.get("/v1/tokens", headers=ada.headers).json() == []
    assert_problem(client.delete(f"/v1/tokens/{session_id}", headers=ada.headers), 404, "not-found")
    assert client.get("/v1/me", headers=ada.headers).status_code == 200


def test_tokens_need_authentication(client: TestClient) -> None:
    assert_problem(client.get("/v1/tokens"), 401, "unauthorized")
    assert_problem(client.post("/v1/tokens", json={"name": "ci"}), 401, "unauthorized")
    assert_problem(client.delete(f"/v1/tokens/{uuid.uuid4()}"), 401, "unauthorized")


def test_an_api_token_cannot_mint_another_token(client: TestClient) -> None:
    """A leaked API token must not be able to create successors that outlive its revocation."""
    ada = signup(client, "ada")
    created = new_token(client, ada)
    response = client.post("/v1/tokens", json={"name": "successor"}, headers=bearer(created["token"]))
    assert_problem(response, 403, "forbidden")
    assert [t["name"] for t in client.get("/v1/tokens", headers=ada.headers).json()] == ["ci"]
