"""Register, login and logout; tokens that expire or are revoked stop working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.support.accounts import PASSWORD, assert_problem


def register(client: TestClient, email: str = "Ada@Example.com") -> str:
    response = client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def test_register_returns_the_user_and_a_working_token(client: TestClient) -> None:
    response = client.post("/v1/auth/register", json={"email": " Ada@Example.com ", "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert set(body["user"]) == {"id", "email", "created_at"}
    logout = client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert logout.status_code == 204


def test_duplicate_email_is_a_conflict_whatever_its_case(client: TestClient) -> None:
    register(client)
    response = client.post("/v1/auth/register", json={"email": "ADA@example.com", "password": PASSWORD})
    assert_problem(response, 409, "conflict")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "ada@example.com", "password": "short"},
        {"email": "ada@example.com", "password": "x" * 257},
        {"email": "ada@example.com"},
    ],
)
def test_invalid_registration_is_a_validation_problem(client: TestClient, body: dict[str, str]) -> None:
    response = client.post("/v1/auth/register", json=body)
    assert_problem(response, 422, "validation")
    assert "short" not in response.text


def test_login_issues_a_new_token_and_rejects_wrong_passwords(client: TestClient) -> None:
    first = register(client)
    response = client.post("/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200
    second = response.json()["access_token"]
    assert second != first
    wrong = client.post("/v1/auth/login", json={"email": "ada@example.com", "password": "wrong password!"})
    assert_problem(wrong, 401, "unauthorized")
    unknown = client.post("/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert_problem(unknown, 401, "unauthorized")
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_logout_revokes_only_that_token(client: TestClient) -> None:
    first = register(client)
    second = client.post("/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}).json()
    assert client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {first}"}).status_code == 204
    again = client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {first}"})
    assert_problem(again, 401, "unauthorized")
    other = client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert other.status_code == 204


def test_expired_token_is_unauthorized(client: TestClient, database_url: str) -> None:
    token = register(client)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE access_tokens SET expires_at = :past"),
            {"past": datetime.now(UTC) - timedelta(seconds=1)},
        )
    engine.dispose()
    response = client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic YWRhOnB3"])
def test_missing_or_malformed_authorization_is_unauthorized(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post("/v1/auth/logout", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_route_is_a_not_found_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404, "not-found")
