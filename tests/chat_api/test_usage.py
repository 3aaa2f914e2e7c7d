"""/v1/usage after a few chats: totals by provider and by access, only the caller's own."""

from __future__ import annotations

from tests.chat_api.chat_helpers import ANTHROPIC_MODEL, OPENAI_MODEL, completion, new_conversation, send
from tests.support.chat_api import ChatApiStack


async def test_usage_totals_by_provider_and_key_source(stack: ChatApiStack) -> None:
    user, other = await stack.register(), await stack.register()
    key = await stack.add_key(user, "openai")
    for _ in range(2):
        assert (await completion(stack, user, OPENAI_MODEL, "count these words")).status_code == 200
    conversation = await new_conversation(stack, user)
    platform = await send(stack, user, conversation, "and these", model=ANTHROPIC_MODEL)
    assert (await completion(stack, other, ANTHROPIC_MODEL)).status_code == 200

    by_provider = (await stack.http.get("/v1/usage", headers=user.headers)).json()
    groups = {g["key"]: g for g in by_provider["groups"]}
    assert set(groups) == {"openai", "anthropic"}
    assert groups["openai"]["requests"] == 2
    assert groups["anthropic"]["requests"] == 1
    assert groups["anthropic"]["output_tokens"] == platform.first("usage")["output_tokens"]
    assert groups["anthropic"]["cost_usd"] > 0
    total = by_provider["total"]
    assert total["requests"] == 3
    assert total["input_tokens"] == sum(g["input_tokens"] for g in groups.values())
    assert by_provider["group_by"] == "provider"

    by_source = (
        await stack.http.get("/v1/usage", params={"group_by": "key_source"}, headers=user.headers)
    ).json()
    sources = {g["key"]: g["requests"] for g in by_source["groups"]}
    assert sources == {"user": 2, "platform": 1}
    by_credential = await stack.http.get("/v1/usage", params={"group_by": "credential"}, headers=user.headers)
    assert {g["key"]: g["requests"] for g in by_credential.json()["groups"]} == {key["id"]: 2, None: 1}

    # Only platform access counts against the quota.
    anthropic = groups["anthropic"]
    quota = by_provider["quota"]
    assert quota["platform_tokens_used"] == anthropic["input_tokens"] + anthropic["output_tokens"]
    assert (
        quota["platform_tokens_remaining"] == quota["platform_tokens_limit"] - quota["platform_tokens_used"]
    )

    listed = (await stack.http.get("/v1/keys", headers=user.headers)).json()
    assert next(k for k in listed if k["id"] == key["id"])["last_used_at"] is not None


async def test_usage_periods_and_bad_parameters(stack: ChatApiStack) -> None:
    user = await stack.register()
    assert (await completion(stack, user, ANTHROPIC_MODEL)).status_code == 200
    past = await stack.http.get(
        "/v1/usage", params={"from": "2020-01-01", "to": "2020-01-31"}, headers=user.headers
    )
    assert past.status_code == 200
    assert past.json()["groups"] == []
    assert past.json()["total"]["requests"] == 0
    assert past.json()["from"].startswith("2020-01-01")
    assert past.json()["to"].startswith("2020-02-01")
    wide = await stack.http.get(
        "/v1/usage", params={"from": "2020-01-01T00:00:00Z", "to": "2100-01-01"}, headers=user.headers
    )
    assert wide.json()["total"]["requests"] == 1
    for params in ({"from": "yesterday"}, {"from": "2026-02-01", "to": "2026-01-01"}):
        bad = await stack.http.get("/v1/usage", params=params, headers=user.headers)
        assert bad.status_code == 400, params
    assert (
        await stack.http.get("/v1/usage", params={"group_by": "colour"}, headers=user.headers)
    ).status_code == 422
    assert (await stack.http.get("/v1/usage")).status_code == 401
