"""Accounts and organisations through chat-api's in-process app (a `TestClient`): sign-ups, orgs and
their members, problem responses, and SQL run behind the API's back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from chat_api.core.problems import PROBLEM_BASE

__all__ = [
    "PASSWORD",
    "Account",
    "add_member",
    "assert_problem",
    "create_org",
    "run_sql",
    "signup",
]

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    headers: dict[str, str]


def assert_problem(response: httpx2.Response, status: int, slug: str) -> None:
    """`response` is an RFC 9457 problem of type `slug` with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM_BASE + slug
    assert body["status"] == status


def signup(client: TestClient, name: str) -> Account:
    """A registered user with a session token."""
    response = client.post("/v1/auth/register", json={"email": f"{name}@example.com", "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    return Account(id=body["user"]["id"], email=body["user"]["email"], headers=headers)


def create_org(client: TestClient, owner: Account, name: str = "Acme") -> str:
    response = client.post("/v1/orgs", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    org_id: str = response.json()["id"]
    return org_id


def add_member(client: TestClient, org_id: str, by: Account, who: Account, role: str) -> None:
    response = client.post(
        f"/v1/orgs/{org_id}/members", json={"email": who.email, "role": role}, headers=by.headers
    )
    assert response.status_code == 201, response.text


def run_sql(database_url: str, statement: str, **params: Any) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(statement), params)
    engine.dispose()
