"""An org's per-provider policy: defaults, whole replacement, validation and who may change it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from switchyard_common.providers import PROVIDERS
from tests.support.accounts import Account, assert_problem

DEFAULT = {"require_org_key": False, "forbid_platform": False}


def stored_rows(database_url: str, org_id: str) -> dict[str, tuple[bool, bool]]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT provider, require_org_key, forbid_platform FROM org_policies WHERE org_id = :org"),
            {"org": uuid.UUID(org_id)},
        ).all()
    engine.dispose()
    return {provider: (require, forbid) for provider, require, forbid in rows}


def put_policy(client: TestClient, org_id: str, by: Account, providers: dict[str, Any]) -> Any:
    return client.put(f"/v1/orgs/{org_id}/policy", json={"providers": providers}, headers=by.headers)


def test_a_new_org_has_the_defaults_for_every_provider(
    client: TestClient, team: tuple[str, dict[str, Account]]
) -> None:
    org_id, people = team
    response = client.get(f"/v1/orgs/{org_id}/policy", headers=people["member"].headers)
    assert response.status_code == 200
    assert response.json() == {"providers": {provider: DEFAULT for provider in PROVIDERS}}


def test_put_replaces_the_whole_policy(
    client: TestClient, team: tuple[str, dict[str, Account]], database_url: str
) -> None:
    org_id, people = team
    owner = people["owner"]
    first = {
        "openai": {"require_org_key": True},
        "anthropic": {"forbid_platform": True, "require_org_key": False},
    }
    response = put_policy(client, org_id, owner, first)
    assert response.status_code == 200, response.text
    expected = {provider: DEFAULT for provider in PROVIDERS}
    expected["openai"] = {"require_org_key": True, "forbid_platform": False}
    expected["anthropic"] = {"require_org_key": False, "forbid_platform": True}
    assert response.json() == {"providers": expected}
    assert client.get(f"/v1/orgs/{org_id}/policy", headers=people["member"].headers).json() == response.json()
    assert stored_rows(database_url, org_id) == {"openai": (True, False), "anthropic": (False, True)}

    second = put_policy(client, org_id, owner, {"google": {"require_org_key": True, "forbid_platform": True}})
    assert second.status_code == 200
    expected = {provider: DEFAULT for provider in PROVIDERS}
    expected["google"] = {"require_org_key": True, "forbid_platform": True}
    assert client.get(f"/v1/orgs/{org_id}/policy", headers=owner.headers).json() == {"providers": expected}
    assert stored_rows(database_url, org_id) == {"google": (True, True)}

    cleared = put_policy(client, org_id, owner, {})
    assert cleared.json() == {"providers": {provider: DEFAULT for provider in PROVIDERS}}
    assert stored_rows(database_url, org_id) == {}


def test_policies_are_per_org(client: TestClient, team: tuple[str, dict[str, Account]]) -> None:
    org_id, people = team
    other = client.post("/v1/orgs", json={"name": "Other"}, headers=people["owner"].headers).json()["id"]
    assert put_policy(client, org_id, people["owner"], {"xai": {"forbid_platform": True}}).status_code == 200
    untouched = client.get(f"/v1/orgs/{other}/policy", headers=people["owner"].headers).json()
    assert untouched["providers"]["xai"] == DEFAULT


@pytest.mark.parametrize("providers", [
    {"openia": {"require_org_key": True}},
    {"OpenAI": {"require_org_key": True}},
    {"openai": {"require_org_keys": True}},
    {"openai": {"require_org_key": "sometimes"}},
])  # fmt: skip
def test_unknown_providers_and_flags_are_validation_problems(
    client: TestClient, team: tuple[str, dict[str, Account]], providers: dict[str, Any], database_url: str
) -> None:
    org_id, people = team
    assert put_policy(client, org_id, people["owner"], {"groq": {"forbid_platform": True}}).status_code == 200
    assert_problem(put_policy(client, org_id, people["owner"], providers), 422, "validation")
    assert stored_rows(database_url, org_id) == {"groq": (False, True)}


def test_admins_may_change_the_policy_members_may_only_read_it(
    client: TestClient, team: tuple[str, dict[str, Account]], database_url: str
) -> None:
    org_id, people = team
    by_member = put_policy(client, org_id, people["member"], {"openai": {"require_org_key": True}})
    assert_problem(by_member, 403, "forbidden")
    assert stored_rows(database_url, org_id) == {}
    by_admin = put_policy(client, org_id, people["admin"], {"openai": {"require_org_key": True}})
    assert by_admin.status_code == 200
    assert stored_rows(database_url, org_id) == {"openai": (True, False)}
