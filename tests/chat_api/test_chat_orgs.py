"""Chats on behalf of an org: its keys and policy apply, chosen by membership or `X-Switchyard-Org`."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.chat_api.chat_helpers import MISTRAL_MODEL, OPENAI_MODEL, completion
from tests.support.chat_api import (
    PASSWORD,
    ChatApiStack,
    User,
    chat_api_stack_settings,
    provider_key,
    serving_chat_api,
)
from tests.support.keyvault import TestPki
from tests.support.ports import free_port


async def _org(stack: ChatApiStack, owner: User) -> str:
    response = await stack.http.post("/v1/orgs", json={"name": "Acme"}, headers=owner.headers)
    assert response.status_code == 201, response.text
    org_id: str = response.json()["id"]
    return org_id


async def test_the_org_key_serves_members_and_its_policy_applies(stack: ChatApiStack) -> None:
    owner, outsider = await stack.register(), await stack.register()
    org_id = await _org(stack, owner)
    org_secret = provider_key("mistral")
    await stack.add_key(owner, "mistral", org_secret, path=f"/v1/orgs/{org_id}/keys")

    by_default = await completion(stack, owner, MISTRAL_MODEL)
    assert by_default.status_code == 200, by_default.text
    assert by_default.headers["x-switchyard-key-source"] == "org"
    assert stack.sim.calls_for("mistral")[-1].api_key == org_secret

    explicit = await stack.http.post(
        "/v1/chat/completions",
        json={"model": MISTRAL_MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers={**owner.headers, "X-Switchyard-Org": org_id},
    )
    assert explicit.headers["x-switchyard-key-source"] == "org"
    not_theirs = await stack.http.post(
        "/v1/chat/completions",
        json={"model": MISTRAL_MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers={**outsider.headers, "X-Switchyard-Org": org_id},
    )
    assert not_theirs.status_code == 404
    assert (await completion(stack, outsider, MISTRAL_MODEL)).status_code == 403

    # The org requires its own OpenAI key and has none: the owner's personal key must not be used.
    policy = {"providers": {"openai": {"require_org_key": True}}}
    assert (await stack.http.put(f"/v1/orgs/{org_id}/policy", json=policy, headers=owner.headers)).is_success
    personal = provider_key("openai")
    await stack.add_key(owner, "openai", personal)
    refused = await completion(stack, owner, OPENAI_MODEL)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "no_access"
    assert personal not in {call.api_key for call in stack.sim.calls_for("openai")}


async def test_an_unreachable_router_is_503_router_unavailable(
    database_url: str, test_pki: TestPki, tmp_path: Path
) -> None:
    settings = chat_api_stack_settings(
        pki=test_pki,
        database_url=database_url,
        router_port=free_port(),
        nats_url=f"nats://127.0.0.1:{free_port()}",
        router_timeout_seconds=2,
    )
    async with (
        serving_chat_api(settings) as api,
        httpx.AsyncClient(base_url=api.base_url, timeout=30) as http,
    ):
        registered = await http.post(
            "/v1/auth/register", json={"email": "r@example.com", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        body = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "hi"}]}
        response = await http.post("/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "router_unavailable"
        models = await http.get("/v1/models", headers=headers)
        assert models.status_code == 503
        conversation = await http.post("/v1/conversations", json={}, headers=headers)
        message = await http.post(
            f"/v1/conversations/{conversation.json()['id']}/messages",
            json={"content": "hi", "model": OPENAI_MODEL},
            headers=headers,
        )
        assert message.status_code == 503
        assert message.json()["type"].endswith("/router-unavailable")
