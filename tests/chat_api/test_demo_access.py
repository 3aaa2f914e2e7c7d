"""Answers from `make dev`'s demo provider say so: `demo` on /v1/models, `X-Switchyard-Demo: true`
on chat responses (a replay too) and `demo` in the route event. The key source is still
user/org/platform; production (no ROUTER_DEMO_PROVIDERS) shows none of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from switchyard_dev.provider_sim import ProviderSimulator
from tests.chat_api.chat_helpers import ANTHROPIC_MODEL, OPENAI_MODEL, completion, new_conversation, send
from tests.conftest import RunningKeyVault
from tests.support.chat_api import ChatApiStack
from tests.support.demo_stack import DEMO_HEADER, demo_chat_api_stack
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer


@pytest.fixture
async def demo_stack(
    database_url: str,
    test_pki: TestPki,
    keyvault: RunningKeyVault,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
) -> AsyncIterator[ChatApiStack]:
    """The stack as `make dev` runs it when Anthropic is served by the demo provider."""
    async with demo_chat_api_stack(
        demo_providers="anthropic",
        database_url=database_url,
        pki=test_pki,
        keyvault_port=keyvault.port,
        nats=nats_server,
        sim=provider_sim,
    ) as served:
        yield served


async def test_models_say_which_are_served_by_the_demo(demo_stack: ChatApiStack) -> None:
    user = await demo_stack.register()
    response = await demo_stack.http.get("/v1/models", headers=user.headers)
    assert response.status_code == 200, response.text
    auto, *models = response.json()["data"]
    assert {m["owned_by"] for m in models if m["demo"]} == {"anthropic"}
    assert all(isinstance(m["demo"], bool) for m in models)
    assert "demo" not in auto


async def test_completions_on_demo_platform_access_carry_the_demo_header(demo_stack: ChatApiStack) -> None:
    user = await demo_stack.register()
    for stream in (False, True):
        demo = await completion(demo_stack, user, ANTHROPIC_MODEL, stream=stream)
        assert demo.status_code == 200, demo.text
        assert demo.headers["X-Switchyard-Key-Source"] == "platform"
        assert demo.headers[DEMO_HEADER] == "true"
        real = await completion(demo_stack, user, OPENAI_MODEL, stream=stream)
        assert real.status_code == 200, real.text
        assert real.headers["X-Switchyard-Key-Source"] == "platform"
        assert DEMO_HEADER not in real.headers


async def test_a_users_key_on_the_demo_is_user_access_answered_by_the_demo(demo_stack: ChatApiStack) -> None:
    user = await demo_stack.register()
    await demo_stack.add_key(user, "anthropic")
    response = await completion(demo_stack, user, ANTHROPIC_MODEL)
    assert response.status_code == 200, response.text
    assert response.headers["X-Switchyard-Key-Source"] == "user"
    assert response.headers[DEMO_HEADER] == "true"


async def test_the_route_event_and_its_replay_say_demo(demo_stack: ChatApiStack) -> None:
    user = await demo_stack.register()
    conversation = await new_conversation(demo_stack, user)
    retry = {"Idempotency-Key": "demo-1"}
    first = await send(demo_stack, user, conversation, "hello demo", ANTHROPIC_MODEL, headers=retry)
    assert first.response.status_code == 200, first.response.text
    assert first.first("route")["demo"] is True
    assert first.first("route")["key_source"] == "platform"
    assert first.response.headers[DEMO_HEADER] == "true"
    replayed = await send(demo_stack, user, conversation, "hello demo", ANTHROPIC_MODEL, headers=retry)
    assert replayed.response.headers["Idempotent-Replayed"] == "true"
    assert replayed.response.headers[DEMO_HEADER] == "true"
    real = await send(demo_stack, user, conversation, "and openai?", OPENAI_MODEL)
    assert real.first("route")["demo"] is False
    assert DEMO_HEADER not in real.response.headers


async def test_outside_make_dev_nothing_is_demo(stack: ChatApiStack) -> None:
    user = await stack.register()
    models = (await stack.http.get("/v1/models", headers=user.headers)).json()["data"][1:]
    assert not any(m["demo"] for m in models)
    response = await completion(stack, user, ANTHROPIC_MODEL)
    assert response.status_code == 200, response.text
    assert DEMO_HEADER not in response.headers
    conversation = await new_conversation(stack, user)
    assert (await send(stack, user, conversation, "hi", ANTHROPIC_MODEL)).first("route")["demo"] is False
