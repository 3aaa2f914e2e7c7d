"""The monthly platform quota: once spent, platform access stops while the user's own keys keep working."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from switchyard_dev.provider_sim import ProviderSimulator
from tests.chat_api.chat_helpers import (
    ANTHROPIC_MODEL,
    OPENAI_MODEL,
    PROBLEMS,
    completion,
    new_conversation,
    send,
)
from tests.conftest import RunningKeyVault
from tests.support.chat_api import ChatApiStack, chat_api_stack_settings, provider_key, serving_chat_api
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.support.router import PLATFORM_KEYS, RunningRouter


@pytest.fixture
async def small_quota_stack(
    database_url: str,
    test_pki: TestPki,
    keyvault: RunningKeyVault,
    router: RunningRouter,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
) -> AsyncIterator[ChatApiStack]:
    """The whole stack with a platform quota of 5 tokens a month: one chat spends it."""
    settings = chat_api_stack_settings(
        pki=test_pki,
        database_url=database_url,
        router_port=router.port,
        nats_url=nats_server.url,
        platform_monthly_token_quota=5,
    )
    async with (
        serving_chat_api(settings) as api,
        httpx.AsyncClient(base_url=api.base_url, timeout=30) as http,
    ):
        yield ChatApiStack(
            api=api, router=router, sim=provider_sim, nats=nats_server, database_url=database_url, http=http
        )


async def test_a_spent_quota_bars_platform_access_but_not_the_users_key(
    small_quota_stack: ChatApiStack,
) -> None:
    stack = small_quota_stack
    user = await stack.register()
    secret = provider_key("openai")
    await stack.add_key(user, "openai", secret)

    first = await completion(stack, user, ANTHROPIC_MODEL, "spend the quota on this")
    assert first.status_code == 200, first.text
    assert first.headers["x-switchyard-key-source"] == "platform"
    platform_calls = len(stack.sim.calls_for("anthropic"))

    over = await completion(stack, user, ANTHROPIC_MODEL)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "quota_exceeded"
    conversation = await new_conversation(stack, user)
    problem = await send(stack, user, conversation, "again", model=ANTHROPIC_MODEL)
    assert problem.response.status_code == 429
    assert problem.response.json()["type"] == PROBLEMS + "quota-exceeded"
    assert len(stack.sim.calls_for("anthropic")) == platform_calls  # no provider call was made

    mine = await completion(stack, user, OPENAI_MODEL)
    assert mine.status_code == 200, mine.text
    assert mine.headers["x-switchyard-key-source"] == "user"
    assert stack.sim.calls_for("openai")[-1].api_key == secret
    assert PLATFORM_KEYS["openai"] not in {c.api_key for c in stack.sim.calls_for("openai")}

    usage = (await stack.http.get("/v1/usage", headers=user.headers)).json()["quota"]
    assert usage["platform_tokens_used"] >= usage["platform_tokens_limit"] == 5
    assert usage["platform_tokens_remaining"] == 0


async def test_auto_with_a_spent_quota_routes_to_the_users_own_key(small_quota_stack: ChatApiStack) -> None:
    stack = small_quota_stack
    user = await stack.register()
    assert (await completion(stack, user, ANTHROPIC_MODEL, "spend the quota on this")).status_code == 200
    assert (await completion(stack, user, "auto")).status_code == 429
    await stack.add_key(user, "openai")
    routed = await completion(stack, user, "auto")
    assert routed.status_code == 200, routed.text
    assert routed.headers["x-switchyard-key-source"] == "user"
    assert routed.headers["x-switchyard-provider"] == "openai"
