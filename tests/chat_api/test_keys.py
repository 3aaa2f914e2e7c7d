"""Settings → API keys for a user: adding, storing only envelopes, reading, changing, checking."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from grpc import aio
from sqlalchemy import select, text

from chat_api.credentials.models import Credential
from switchyard_common.envelope import Binding, OwnerType
from tests.support.chat_api import ChatApiStack, provider_key
from tests.support.credentials import (
    VALIDATION,
    credential_row,
    eventually,
    problem_type,
    revocation_of,
    revocations,
    sessions,
    set_columns,
    table_dump,
)
from tests.support.keyvault import KeyVaultClient


def whole_database_dump(stack: ChatApiStack) -> str:
    with sessions(stack)() as db_session:
        tables = db_session.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        names = list(tables)
    return "\n".join(table_dump(stack, name) for name in names)


# --- adding a key -------------------------------------------------------------------------------


async def test_add_returns_the_masked_key_and_stores_only_an_envelope(
    stack: ChatApiStack, vault: KeyVaultClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await stack.register()
    secret = provider_key("openai")
    response = await stack.http.post(
        "/v1/keys",
        json={"provider": "openai", "api_key": f"  {secret}\n", "label": "work"},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "provider",
        "label",
        "hint",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
        "fallback_to_platform",
    }
    assert body["provider"] == "openai"
    assert body["label"] == "work"
    assert body["hint"] == f"sk-proj-…{secret[-4:]}"
    assert body["status"] == "active"
    assert body["fallback_to_platform"] is False
    assert body["expires_at"] is None
    assert body["last_used_at"] is None
    assert secret not in response.text

    dump = whole_database_dump(stack)
    assert secret not in dump
    assert secret.encode().hex() not in dump
    assert secret[8:24] not in dump  # not even a fragment of the key's body

    row = credential_row(stack, body["id"])
    assert row is not None
    assert (row.owner_type, str(row.owner_id), row.provider) == ("user", user.id, "openai")
    binding = Binding(body["id"], OwnerType.USER, user.id, "openai")
    assert (await vault.decrypt(row.envelope, binding)).secret == secret.encode()
    for wrong in (
        Binding(str(uuid.uuid4()), OwnerType.USER, user.id, "openai"),
        Binding(body["id"], OwnerType.ORG, user.id, "openai"),
        Binding(body["id"], OwnerType.USER, str(uuid.uuid4()), "openai"),
        Binding(body["id"], OwnerType.USER, user.id, "deepseek"),
    ):
        await vault.decrypt_error(row.envelope, wrong)

    listed = (await stack.http.get("/v1/keys", headers=user.headers)).json()
    assert listed == [body]
    assert (await stack.http.get(f"/v1/keys/{body['id']}", headers=user.headers)).json() == body
    assert body["id"] in caplog.text  # the key event is logged, by id ...
    assert secret not in caplog.text  # ... and never with the key


async def test_add_with_expiry_and_platform_fallback(stack: ChatApiStack) -> None:
    user = await stack.register()
    expires = datetime.now(UTC) + timedelta(days=30)
    key = await stack.add_key(
        user, "anthropic", expires_at=expires.isoformat(), fallback_to_platform=True, label=None
    )
    assert datetime.fromisoformat(key["expires_at"]) == expires
    assert key["fallback_to_platform"] is True
    assert key["hint"].startswith("sk-ant-…")


async def test_unknown_provider_and_unknown_fields_are_refused(stack: ChatApiStack) -> None:
    user = await stack.register()
    secret = provider_key("openai")
    for body in (
        {"provider": "acme", "api_key": secret},
        {"provider": "OpenAI", "api_key": secret},
        {"api_key": secret},
        {"provider": "openai"},
        {"provider": "openai", "api_key": secret, "owner_id": str(uuid.uuid4())},
        {"provider": "openai", "api_key": 12345},
    ):
        response = await stack.http.post("/v1/keys", json=body, headers=user.headers)
        assert response.status_code == 422, body
        assert response.json()["type"] == VALIDATION
        assert secret not in response.text
    assert (await stack.http.get("/v1/keys", headers=user.headers)).json() == []


async def test_expiry_in_the_past_is_refused(stack: ChatApiStack) -> None:
    user = await stack.register()
    for expires in (datetime.now(UTC) - timedelta(minutes=1), datetime(2020, 1, 1)):
        response = await stack.http.post(
            "/v1/keys",
            json={"provider": "groq", "api_key": provider_key("groq"), "expires_at": expires.isoformat()},
            headers=user.headers,
        )
        assert response.status_code == 422
        assert response.json()["type"] == VALIDATION
    assert (await stack.http.get("/v1/keys", headers=user.headers)).json() == []


async def test_an_unreachable_key_service_stores_nothing(stack: ChatApiStack, keyvault: Any) -> None:
    user = await stack.register()
    await keyvault.server.stop(grace=0)
    secret = provider_key("mistral")
    response = await stack.http.post(
        "/v1/keys", json={"provider": "mistral", "api_key": secret}, headers=user.headers
    )
    assert response.status_code == 503
    assert problem_type(response.json()) == "key-service-unavailable"
    assert secret not in response.text
    assert table_dump(stack, "credentials") == ""


# --- checking a key with its provider ------------------------------------------------------------


async def test_add_with_verify_stores_only_a_key_the_provider_accepts(stack: ChatApiStack) -> None:
    user = await stack.register()
    good, bad = provider_key("openai"), provider_key("openai")
    stack.sim.set_valid_keys("openai", {good})

    rejected = await stack.http.post(
        "/v1/keys", json={"provider": "openai", "api_key": bad, "verify": True}, headers=user.headers
    )
    assert rejected.status_code == 422
    assert problem_type(rejected.json()) == "key-rejected"
    assert bad not in rejected.text
    assert table_dump(stack, "credentials") == ""
    assert bad in stack.sim.keys_seen("openai")  # the router really asked the provider

    accepted = await stack.add_key(user, "openai", good, verify=True)
    assert accepted["status"] == "active"
    assert good in stack.sim.keys_seen("openai")


async def test_add_with_verify_when_the_provider_is_down_stores_nothing(stack: ChatApiStack) -> None:
    user = await stack.register()
    stack.sim.fail_next("xai", 503, endpoint="models", times=None)
    response = await stack.http.post(
        "/v1/keys",
        json={"provider": "xai", "api_key": provider_key("xai"), "verify": True},
        headers=user.headers,
    )
    assert response.status_code == 502
    assert problem_type(response.json()) == "provider-unavailable"
    assert table_dump(stack, "credentials") == ""


async def test_verify_endpoint_reports_and_records_the_verdict(stack: ChatApiStack) -> None:
    user = await stack.register()
    secret = provider_key("anthropic")
    key = await stack.add_key(user, "anthropic", secret)
    url = f"/v1/keys/{key['id']}/verify"

    stack.sim.set_valid_keys("anthropic", {"someone-else"})
    rejected = await stack.http.post(url, headers=user.headers)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["verdict"] == "rejected"
    assert rejected.json()["key"]["status"] == "invalid"
    assert secret not in rejected.text
    assert (await stack.http.get(f"/v1/keys/{key['id']}", headers=user.headers)).json()["status"] == "invalid"

    stack.sim.set_valid_keys("anthropic", None)
    valid = await stack.http.post(url, headers=user.headers)
    assert valid.json()["verdict"] == "valid"
    assert valid.json()["key"]["status"] == "active"
    assert valid.json()["message"]

    stack.sim.fail_next("anthropic", 503, endpoint="models", times=None)
    unreachable = await stack.http.post(url, headers=user.headers)
    assert unreachable.json()["verdict"] == "unreachable"
    assert unreachable.json()["key"]["status"] == "active"  # an outage says nothing about the key


# --- reading and changing -----------------------------------------------------------------------


async def test_status_is_expired_once_the_expiry_has_passed(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(
        user, "deepseek", expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    set_columns(stack, key["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
    listed = (await stack.http.get("/v1/keys", headers=user.headers)).json()
    assert [k["status"] for k in listed] == ["expired"]
    row = credential_row(stack, key["id"])
    assert row is not None
    assert row.status == "active"  # derived on read; the stored status is the provider's verdict


async def test_patch_changes_label_fallback_and_expiry_only(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "together", label="old")
    url = f"/v1/keys/{key['id']}"
    expires = datetime.now(UTC) + timedelta(days=1)

    changed = await stack.http.patch(
        url,
        json={"label": "new", "fallback_to_platform": True, "expires_at": expires.isoformat()},
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["label"] == "new"
    assert changed.json()["fallback_to_platform"] is True
    assert datetime.fromisoformat(changed.json()["expires_at"]) == expires
    assert changed.json()["hint"] == key["hint"]

    cleared = await stack.http.patch(url, json={"expires_at": None}, headers=user.headers)
    assert cleared.json()["expires_at"] is None
    assert cleared.json()["label"] == "new"

    for body in (
        {"api_key": provider_key("together")},
        {"provider": "openai"},
        {"expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
        {"label": "x" * 201},
    ):
        response = await stack.http.patch(url, json=body, headers=user.headers)
        assert response.status_code == 422, body
        assert response.json()["type"] == VALIDATION
    assert (await stack.http.get(url, headers=user.headers)).json() == cleared.json()


async def test_keys_need_a_signed_in_user(stack: ChatApiStack) -> None:
    assert (await stack.http.get("/v1/keys")).status_code == 401
    response = await stack.http.post("/v1/keys", json={"provider": "groq", "api_key": provider_key("groq")})
    assert response.status_code == 401


async def test_another_users_key_cannot_be_seen_changed_checked_or_deleted(stack: ChatApiStack) -> None:
    alice, mallory = await stack.register(), await stack.register()
    key = await stack.add_key(alice, "google")
    url = f"/v1/keys/{key['id']}"

    assert (await stack.http.get("/v1/keys", headers=mallory.headers)).json() == []
    assert (await stack.http.get(url, headers=mallory.headers)).status_code == 404
    assert (await stack.http.patch(url, json={"label": "mine"}, headers=mallory.headers)).status_code == 404
    assert (await stack.http.post(f"{url}/verify", headers=mallory.headers)).status_code == 404
    assert (await stack.http.delete(url, headers=mallory.headers)).status_code == 404
    missing = await stack.http.get(f"/v1/keys/{uuid.uuid4()}", headers=mallory.headers)
    assert missing.json() == (await stack.http.get(url, headers=mallory.headers)).json()  # indistinguishable

    assert (await stack.http.get(url, headers=alice.headers)).json() == key
    row = credential_row(stack, key["id"])
    assert row is not None
    assert row.revoking_at is None


async def test_malformed_key_ids_are_client_errors(stack: ChatApiStack) -> None:
    user = await stack.register()
    for path in ("/v1/keys/not-a-uuid", "/v1/keys/1234", "/v1/keys/%00"):
        for method in ("GET", "PATCH", "DELETE"):
            response = await stack.http.request(
                method, path, json={} if method == "PATCH" else None, headers=user.headers
            )
            assert response.status_code in (404, 422), (method, path, response.text)
        assert (await stack.http.post(f"{path}/verify", headers=user.headers)).status_code in (404, 422)


# --- one key per provider -----------------------------------------------------------------------


async def test_adding_a_second_key_for_a_provider_replaces_and_revokes_the_first(
    stack: ChatApiStack, vault: KeyVaultClient
) -> None:
    user = await stack.register()
    first = await stack.add_key(user, "openrouter")
    first_row = credential_row(stack, first["id"])
    assert first_row is not None
    other = await stack.add_key(user, "groq")
    second = await stack.add_key(user, "openrouter")

    listed = (await stack.http.get("/v1/keys", headers=user.headers)).json()
    assert {k["id"] for k in listed} == {other["id"], second["id"]}
    assert credential_row(stack, first["id"]) is None
    assert (await stack.http.get(f"/v1/keys/{first['id']}", headers=user.headers)).status_code == 404

    event = await revocation_of(stack, first["id"])
    assert event.reason == "replaced"
    assert (event.owner_id, event.provider) == (user.id, "openrouter")
    assert [e.credential_id for e in await revocations(stack.nats.url)] == [first["id"]]

    # keyvault learns of the revocation from the stream and refuses the old envelope from then on.
    binding = Binding(first["id"], OwnerType.USER, user.id, "openrouter")

    async def refused() -> bool:
        try:
            await vault.decrypt(first_row.envelope, binding)
        except aio.AioRpcError:
            return True
        return False

    await eventually(refused, what="keyvault to refuse the replaced key")


async def test_a_half_revoked_key_is_replaced(stack: ChatApiStack) -> None:
    """A process that died between marking and deleting leaves a hidden row; adding finishes it."""
    user = await stack.register()
    first = await stack.add_key(user, "mistral")
    set_columns(stack, first["id"], revoking_at=datetime.now(UTC))
    assert (await stack.http.get("/v1/keys", headers=user.headers)).json() == []

    second = await stack.add_key(user, "mistral")
    assert [k["id"] for k in (await stack.http.get("/v1/keys", headers=user.headers)).json()] == [
        second["id"]
    ]
    assert credential_row(stack, first["id"]) is None
    assert (await revocation_of(stack, first["id"])).reason == "replaced"


async def test_keys_of_one_user_are_stored_per_provider(stack: ChatApiStack) -> None:
    user = await stack.register()
    added = [await stack.add_key(user, provider) for provider in ("openai", "anthropic", "google")]
    with sessions(stack)() as db_session:
        rows = db_session.scalars(select(Credential).where(Credential.owner_id == uuid.UUID(user.id))).all()
    assert sorted(str(r.id) for r in rows) == sorted(k["id"] for k in added)
    assert await revocations(stack.nats.url) == []
