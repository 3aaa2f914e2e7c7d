"""Organisations: creation, visibility, members and the rules on roles."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.support.accounts import Account, add_member, assert_problem, create_org, run_sql, signup


def roles_of(client: TestClient, org_id: str, viewer: Account) -> dict[str, str]:
    response = client.get(f"/v1/orgs/{org_id}/members", headers=viewer.headers)
    assert response.status_code == 200, response.text
    return {m["email"]: m["role"] for m in response.json()}


def test_creator_becomes_owner_and_sees_the_org(client: TestClient) -> None:
    ada = signup(client, "ada")
    response = client.post("/v1/orgs", json={"name": "  Acme  "}, headers=ada.headers)
    assert response.status_code == 201
    org = response.json()
    assert set(org) == {"id", "name", "role", "created_at"}
    assert (org["name"], org["role"]) == ("Acme", "owner")
    assert client.get("/v1/orgs", headers=ada.headers).json() == [org]
    assert client.get(f"/v1/orgs/{org['id']}", headers=ada.headers).json() == org
    members = client.get(f"/v1/orgs/{org['id']}/members", headers=ada.headers).json()
    assert [(m["user_id"], m["email"], m["role"]) for m in members] == [(ada.id, ada.email, "owner")]
    assert set(members[0]) == {"user_id", "email", "role", "joined_at"}


def test_each_user_lists_only_their_own_orgs_with_their_role(client: TestClient) -> None:
    ada, bob = signup(client, "ada"), signup(client, "bob")
    acme = create_org(client, ada, "Acme")
    create_org(client, bob, "Bobco")
    add_member(client, acme, ada, bob, "admin")
    listed = {o["name"]: o["role"] for o in client.get("/v1/orgs", headers=bob.headers).json()}
    assert listed == {"Acme": "admin", "Bobco": "owner"}
    assert [o["name"] for o in client.get("/v1/orgs", headers=ada.headers).json()] == ["Acme"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("GET", "/members"),
    ("POST", "/members"),
    ("GET", "/policy"),
    ("PUT", "/policy"),
])  # fmt: skip
def test_non_members_get_the_same_404_as_for_a_missing_org(
    client: TestClient, team: tuple[str, dict[str, Account]], method: str, path: str
) -> None:
    org_id, people = team
    bodies = {
        "PATCH": {"name": "Mine"},
        "POST": {"email": people["outsider"].email},
        "PUT": {"providers": {}},
    }
    json = bodies.get(method)
    outsider = client.request(
        method, f"/v1/orgs/{org_id}{path}", json=json, headers=people["outsider"].headers
    )
    missing = client.request(
        method, f"/v1/orgs/{uuid.uuid4()}{path}", json=json, headers=people["owner"].headers
    )
    assert_problem(outsider, 404, "not-found")
    assert_problem(missing, 404, "not-found")
    assert outsider.json()["detail"] == missing.json()["detail"]


def test_orgs_need_authentication(client: TestClient) -> None:
    assert_problem(client.get("/v1/orgs"), 401, "unauthorized")
    assert_problem(client.post("/v1/orgs", json={"name": "Acme"}), 401, "unauthorized")


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_owner_adds_a_member_by_email_with_each_role(client: TestClient, role: str) -> None:
    ada, bob = signup(client, "ada"), signup(client, "bob")
    org_id = create_org(client, ada)
    response = client.post(
        f"/v1/orgs/{org_id}/members", json={"email": " BOB@Example.com ", "role": role}, headers=ada.headers
    )
    assert response.status_code == 201, response.text
    assert {k: response.json()[k] for k in ("user_id", "email", "role")} == {
        "user_id": bob.id,
        "email": "bob@example.com",
        "role": role,
    }
    assert roles_of(client, org_id, bob) == {"ada@example.com": "owner", "bob@example.com": role}
    assert client.get(f"/v1/orgs/{org_id}", headers=bob.headers).json()["role"] == role


def test_role_defaults_to_member(client: TestClient) -> None:
    ada, bob = signup(client, "ada"), signup(client, "bob")
    org_id = create_org(client, ada)
    response = client.post(f"/v1/orgs/{org_id}/members", json={"email": bob.email}, headers=ada.headers)
    assert response.json()["role"] == "member"


def test_admin_adds_admins_and_members_but_cannot_grant_owner(
    client: TestClient, team: tuple[str, dict[str, Account]]
) -> None:
    org_id, people = team
    add_member(client, org_id, people["admin"], people["outsider"], "admin")
    carol = signup(client, "carol")
    response = client.post(
        f"/v1/orgs/{org_id}/members",
        json={"email": carol.email, "role": "owner"},
        headers=people["admin"].headers,
    )
    assert_problem(response, 403, "forbidden")
    assert carol.email not in roles_of(client, org_id, people["owner"])


def test_member_cannot_add_rename_delete_or_change_roles(
    client: TestClient, team: tuple[str, dict[str, Account]]
) -> None:
    org_id, people = team
    member, outsider = people["member"], people["outsider"]
    add = client.post(f"/v1/orgs/{org_id}/members", json={"email": outsider.email}, headers=member.headers)
    assert_problem(add, 403, "forbidden")
    assert_problem(
        client.patch(f"/v1/orgs/{org_id}", json={"name": "X"}, headers=member.headers), 403, "forbidden"
    )
    assert_problem(client.delete(f"/v1/orgs/{org_id}", headers=member.headers), 403, "forbidden")
    promote = client.patch(
        f"/v1/orgs/{org_id}/members/{member.id}", json={"role": "owner"}, headers=member.headers
    )
    assert_problem(promote, 403, "forbidden")
    remove = client.delete(f"/v1/orgs/{org_id}/members/{people['admin'].id}", headers=member.headers)
    assert_problem(remove, 403, "forbidden")
    assert roles_of(client, org_id, member)[member.email] == "member"


def test_adding_an_unknown_email_or_an_existing_member_is_refused(
    client: TestClient, team: tuple[str, dict[str, Account]]
) -> None:
    org_id, people = team
    owner = people["owner"]
    unknown = client.post(
        f"/v1/orgs/{org_id}/members", json={"email": "nobody@example.com"}, headers=owner.headers
    )
    assert_problem(unknown, 404, "not-found")
    assert "register" in unknown.json()["detail"]
    again = client.post(
        f"/v1/orgs/{org_id}/members", json={"email": people["member"].email}, headers=owner.headers
    )
    assert_problem(again, 409, "conflict")
    assert roles_of(client, org_id, owner)[people["member"].email] == "member"


@pytest.mark.parametrize("body", [
    {"email": "carol@example.com", "role": "superuser"},
    {"email": "carol@example.com", "role": "Owner"},
    {"email": "not-an-email"},
    {"role": "member"},
])  # fmt: skip
def test_invalid_member_bodies_are_validation_problems(
    client: TestClient, team: tuple[str, dict[str, Account]], body: dict[str, str]
) -> None:
    org_id, people = team
    signup(client, "carol")
    response = client.post(f"/v1/orgs/{org_id}/members", json=body, headers=people["owner"].headers)
    assert_problem(response, 422, "validation")


def test_owner_changes_roles_and_admins_cannot(
    client: TestClient, team: tuple[str, dict[str, Account]]
) -> None:
    org_id, people = team
    owner, admin, member = people["owner"], people["admin"], people["member"]
    by_admin = client.patch(
        f"/v1/orgs/{org_id}/members/{member.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert_problem(by_admin, 403, "forbidden")
    response = client.patch(
        f"/v1/orgs/{org_id}/members/{member.id}", json={"role": "admin"}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["email"], response.json()["role"]) == (member.email, "admin")
    invalid = client.patch(
        f"/v1/orgs/{org_id}/members/{member.id}", json={"role": "god"}, headers=owner.headers
    )
    assert_problem(invalid, 422, "validation")
    stranger = client.patch(
        f"/v1/orgs/{org_id}/members/{people['outsider'].id}", json={"role": "admin"}, headers=owner.headers
    )
    assert_problem(stranger, 404, "not-found")


def test_the_last_owner_cannot_be_demoted_but_one_of_two_can(
    client: TestClient, team: tuple[str, dict[str, Account]]
) -> None:
    org_id, people = team
    owner, admin = people["owner"], people["admin"]
    self_demote = client.patch(
        f"/v1/orgs/{org_id}/members/{owner.id}", json={"role": "admin"}, headers=owner.headers
    )
    assert_problem(self_demote, 409, "conflict")
    assert "last owner" in self_demote.json()["detail"]
    promote = client.patch(
        f"/v1/orgs/{org_id}/members/{admin.id}", json={"role": "owner"}, headers=owner.headers
    )
    assert promote.status_code == 200
    demote = client.patch(
        f"/v1/orgs/{org_id}/members/{owner.id}", json={"role": "member"}, headers=admin.headers
    )
    assert demote.status_code == 200
    assert roles_of(client, org_id, admin) == {
        owner.email: "member",
        admin.email: "owner",
        people["member"].email: "member",
    }


def test_removing_members_follows_the_role_rules(
    client: TestClient, team: tuple[str, dict[str, Account]]
) -> None:
    org_id, people = team
    owner, admin, member = people["owner"], people["admin"], people["member"]
    kick_owner = client.delete(f"/v1/orgs/{org_id}/members/{owner.id}", headers=admin.headers)
    assert_problem(kick_owner, 403, "forbidden")
    assert client.delete(f"/v1/orgs/{org_id}/members/{member.id}", headers=admin.headers).status_code == 204
    assert_problem(client.get(f"/v1/orgs/{org_id}", headers=member.headers), 404, "not-found")
    gone = client.delete(f"/v1/orgs/{org_id}/members/{member.id}", headers=admin.headers)
    assert_problem(gone, 404, "not-found")
    assert client.delete(f"/v1/orgs/{org_id}/members/{admin.id}", headers=owner.headers).status_code == 204
    assert roles_of(client, org_id, owner) == {owner.email: "owner"}


def test_anyone_may_leave_except_the_last_owner(
    client: TestClient, team: tuple[str, dict[str, Account]]
) -> None:
    org_id, people = team
    owner, admin, member = people["owner"], people["admin"], people["member"]
    assert client.delete(f"/v1/orgs/{org_id}/members/{member.id}", headers=member.headers).status_code == 204
    assert client.get("/v1/orgs", headers=member.headers).json() == []
    last = client.delete(f"/v1/orgs/{org_id}/members/{owner.id}", headers=owner.headers)
    assert_problem(last, 409, "conflict")
    add_member(client, org_id, owner, people["outsider"], "owner")
    assert client.delete(f"/v1/orgs/{org_id}/members/{owner.id}", headers=owner.headers).status_code == 204
    assert client.delete(f"/v1/orgs/{org_id}/members/{admin.id}", headers=admin.headers).status_code == 204
    assert roles_of(client, org_id, people["outsider"]) == {people["outsider"].email: "owner"}


def test_owners_and_admins_rename(client: TestClient, team: tuple[str, dict[str, Account]]) -> None:
    org_id, people = team
    response = client.patch(f"/v1/orgs/{org_id}", json={"name": "Acme Ltd"}, headers=people["admin"].headers)
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["role"]) == ("Acme Ltd", "admin")
    assert client.get(f"/v1/orgs/{org_id}", headers=people["member"].headers).json()["name"] == "Acme Ltd"
    empty = client.patch(f"/v1/orgs/{org_id}", json={"name": "   "}, headers=people["owner"].headers)
    assert_problem(empty, 422, "validation")


def test_only_owners_delete_and_never_while_the_org_has_keys(
    client: TestClient, team: tuple[str, dict[str, Account]], database_url: str
) -> None:
    org_id, people = team
    owner = people["owner"]
    assert_problem(client.delete(f"/v1/orgs/{org_id}", headers=people["admin"].headers), 403, "forbidden")
    run_sql(
        database_url,
        "INSERT INTO credentials (id, owner_type, owner_id, provider, hint, envelope, status,"
        " fallback_to_platform, created_at) VALUES (:id, 'org', :org, 'openai', 'sk-...abcd', :env,"
        " 'active', false, :now)",
        id=uuid.uuid4(),
        org=uuid.UUID(org_id),
        env=b"envelope",
        now=datetime.now(UTC),
    )
    refused = client.delete(f"/v1/orgs/{org_id}", headers=owner.headers)
    assert_problem(refused, 409, "conflict")
    assert "revoke the org's keys first" in refused.json()["detail"]
    assert client.get(f"/v1/orgs/{org_id}", headers=owner.headers).status_code == 200

    run_sql(database_url, "DELETE FROM credentials WHERE owner_id = :org", org=uuid.UUID(org_id))
    assert client.delete(f"/v1/orgs/{org_id}", headers=owner.headers).status_code == 204
    for person in people.values():
        assert_problem(client.get(f"/v1/orgs/{org_id}", headers=person.headers), 404, "not-found")
        assert client.get("/v1/orgs", headers=person.headers).json() == []


def test_membership_changes_wait_for_the_org_row_lock(
    client: TestClient, team: tuple[str, dict[str, Account]], database_url: str
) -> None:
    # Holding the org's row shows the change is serialised with any other change to the same org,
    # which is what keeps two owners demoting each other at once from leaving it ownerless.
    org_id, people = team
    engine = create_engine(database_url)
    with ThreadPoolExecutor(max_workers=1) as pool, engine.connect() as holder:
        holder.execute(text("SELECT id FROM orgs WHERE id = :org FOR UPDATE"), {"org": uuid.UUID(org_id)})
        url = f"/v1/orgs/{org_id}/members/{people['member'].id}"
        pending = pool.submit(client.patch, url, json={"role": "admin"}, headers=people["owner"].headers)
        with pytest.raises(TimeoutError):
            pending.result(timeout=0.5)
        holder.rollback()
        assert pending.result(timeout=10).status_code == 200
    engine.dispose()
    assert roles_of(client, org_id, people["owner"])[people["member"].email] == "admin"
