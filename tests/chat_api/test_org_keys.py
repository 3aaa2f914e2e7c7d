"""An org's keys, under /v1/orgs/{org_id}/keys: for its owners and admins only."""

from __future__ import annotations

import uuid

from chat_api.orgs.models import Org, OrgMember
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, OwnerType
from tests.support.chat_api import ChatApiStack, User, provider_key
from tests.support.credentials import credential_row, problem_type, revocation_of, sessions
from tests.support.keyvault import KeyVaultClient


def create_org(stack: ChatApiStack, members: dict[str, User]) -> str:
    """An org with these members by role, written directly (the org endpoints are built elsewhere)."""
    org_id = uuid.uuid4()
    with sessions(stack)() as db_session:
        db_session.add(Org(id=org_id, name="Acme"))
        db_session.flush()
        for role, user in members.items():
            db_session.add(OrgMember(org_id=org_id, user_id=uuid.UUID(user.id), role=role))
        db_session.commit()
    return str(org_id)


async def test_owners_and_admins_manage_the_org_keys(stack: ChatApiStack, vault: KeyVaultClient) -> None:
    owner, admin = await stack.register(), await stack.register()
    org_id = create_org(stack, {"owner": owner, "admin": admin})
    path = f"/v1/orgs/{org_id}/keys"
    secret = provider_key("openai")

    key = await stack.add_key(owner, "openai", secret, path=path, label="team")
    assert key["hint"] == f"sk-proj-…{secret[-4:]}"
    row = credential_row(stack, key["id"])
    assert row is not None
    assert (row.owner_type, str(row.owner_id)) == ("org", org_id)
    binding = Binding(key["id"], OwnerType.ORG, org_id, "openai")
    assert (await vault.decrypt(row.envelope, binding)).secret == secret.encode()
    await vault.decrypt_error(row.envelope, Binding(key["id"], OwnerType.USER, owner.id, "openai"))

    # The admin sees, changes and checks the same key; neither sees it among their own keys.
    assert (await stack.http.get(path, headers=admin.headers)).json() == [key]
    changed = await stack.http.patch(f"{path}/{key['id']}", json={"label": "ops"}, headers=admin.headers)
    assert changed.json()["label"] == "ops"
    verified = await stack.http.post(f"{path}/{key['id']}/verify", headers=admin.headers)
    assert verified.json()["verdict"] == "valid"
    assert secret in stack.sim.keys_seen("openai")
    assert (await stack.http.get("/v1/keys", headers=owner.headers)).json() == []
    assert (await stack.http.get(f"/v1/keys/{key['id']}", headers=owner.headers)).status_code == 404

    # A personal key of the same provider lives beside the org's and does not replace it.
    personal = await stack.add_key(owner, "openai")
    assert credential_row(stack, key["id"]) is not None

    deleted = await stack.http.delete(f"{path}/{key['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert credential_row(stack, key["id"]) is None
    event = await revocation_of(stack, key["id"])
    assert (event.owner_type, event.owner_id) == (keyvault_pb2.OWNER_TYPE_ORG, org_id)
    assert credential_row(stack, personal["id"]) is not None


async def test_an_org_key_is_replaced_per_provider(stack: ChatApiStack) -> None:
    owner = await stack.register()
    org_id = create_org(stack, {"owner": owner})
    path = f"/v1/orgs/{org_id}/keys"
    first = await stack.add_key(owner, "google", path=path)
    second = await stack.add_key(owner, "google", path=path)
    assert [k["id"] for k in (await stack.http.get(path, headers=owner.headers)).json()] == [second["id"]]
    assert (await revocation_of(stack, first["id"])).reason == "replaced"


async def test_members_get_403_and_outsiders_404(stack: ChatApiStack) -> None:
    owner, member, outsider = await stack.register(), await stack.register(), await stack.register()
    org_id = create_org(stack, {"owner": owner, "member": member})
    path = f"/v1/orgs/{org_id}/keys"
    key = await stack.add_key(owner, "mistral", path=path)
    body = {"provider": "mistral", "api_key": provider_key("mistral")}

    for user, status, problem in ((member, 403, "forbidden"), (outsider, 404, "not-found")):
        for method, url, json in (
            ("GET", path, None),
            ("POST", path, body),
            ("GET", f"{path}/{key['id']}", None),
            ("PATCH", f"{path}/{key['id']}", {"label": "x"}),
            ("POST", f"{path}/{key['id']}/verify", None),
            ("DELETE", f"{path}/{key['id']}", None),
        ):
            response = await stack.http.request(method, url, json=json, headers=user.headers)
            assert response.status_code == status, (method, url, response.text)
            assert problem_type(response.json()) == problem
    # An unknown org looks exactly like one the caller is not in.
    unknown = await stack.http.get(f"/v1/orgs/{uuid.uuid4()}/keys", headers=outsider.headers)
    assert unknown.status_code == 404
    assert (await stack.http.get("/v1/orgs/not-a-uuid/keys", headers=owner.headers)).status_code in (
        404,
        422,
    )
    assert (await stack.http.get(f"{path}/{key['id']}", headers=owner.headers)).json() == key


async def test_a_users_key_id_is_not_reachable_through_an_org(stack: ChatApiStack) -> None:
    owner = await stack.register()
    org_id = create_org(stack, {"owner": owner})
    personal = await stack.add_key(owner, "deepseek")
    url = f"/v1/orgs/{org_id}/keys/{personal['id']}"
    assert (await stack.http.get(url, headers=owner.headers)).status_code == 404
    assert (await stack.http.delete(url, headers=owner.headers)).status_code == 404
    assert credential_row(stack, personal["id"]) is not None
