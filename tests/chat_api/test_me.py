"""GET /v1/me: the bearer's account and the orgs they belong to."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.accounts import add_member, assert_problem, create_org, signup


def test_me_shows_the_user_and_no_orgs_at_first(client: TestClient) -> None:
    ada = signup(client, "ada")
    response = client.get("/v1/me", headers=ada.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "orgs"}
    assert set(body["user"]) == {"id", "email", "created_at"}
    assert (body["user"]["id"], body["user"]["email"]) == (ada.id, "ada@example.com")
    assert body["orgs"] == []


def test_me_lists_every_org_with_the_callers_role(client: TestClient) -> None:
    ada, bob = signup(client, "ada"), signup(client, "bob")
    acme = create_org(client, ada, "Acme")
    bobco = create_org(client, bob, "Bobco")
    add_member(client, acme, ada, bob, "member")
    orgs = client.get("/v1/me", headers=bob.headers).json()["orgs"]
    assert sorted(orgs, key=lambda o: o["name"]) == [
        {"id": acme, "name": "Acme", "role": "member"},
        {"id": bobco, "name": "Bobco", "role": "owner"},
    ]
    assert [o["id"] for o in client.get("/v1/me", headers=ada.headers).json()["orgs"]] == [acme]


def test_me_needs_a_live_token(client: TestClient) -> None:
    ada = signup(client, "ada")
    assert_problem(client.get("/v1/me"), 401, "unauthorized")
    assert client.post("/v1/auth/logout", headers=ada.headers).status_code == 204
    assert_problem(client.get("/v1/me", headers=ada.headers), 401, "unauthorized")
