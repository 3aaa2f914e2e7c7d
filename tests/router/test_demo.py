"""`make dev`'s demo providers as the router reports them: the `demo` flag on routes and models.

ROUTER_DEMO_PROVIDERS names the providers whose base URL is the local demo provider; every route to
one (whatever the key source) and every model of one says `demo`, and a key verified there says the
real provider was not asked. Without the setting (every deployment but `make dev`) nothing is demo.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from router.catalog import load_catalog
from router.config import Settings
from router.server import RouterServer
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_dev.provider_sim import ProviderSimulator
from tests.conftest import RunningKeyVault
from tests.support.keyvault import KeyVaultClient, TestPki, binding_to_proto
from tests.support.nats_server import NatsServer
from tests.support.router import PLATFORM_KEYS, RunningRouter, chat_request, router_settings, store_key
from tests.support.teardown import bounded

DEMO = frozenset({"anthropic", "google"})  # openai stays "real" (the simulator, but not called demo)
MODEL = {
    provider: load_catalog().for_provider(provider)[0].id for provider in ("openai", "anthropic", "google")
}


@pytest.fixture
async def demo_router(
    test_pki: TestPki, keyvault: RunningKeyVault, nats_server: NatsServer, provider_sim: ProviderSimulator
) -> AsyncIterator[RunningRouter]:
    settings = router_settings(
        pki=test_pki,
        keyvault_port=keyvault.port,
        nats_url=nats_server.url,
        sim=provider_sim,
        demo_providers=" anthropic, google ",
    )
    server = RouterServer(settings)
    await server.start()
    yield RunningRouter(server=server, pki=test_pki)
    await bounded(server.stop(grace=0), "the demo router")


async def list_models(router: RunningRouter) -> list[router_pb2.Model]:
    async with router.channel() as channel:
        reply = await router_pb2_grpc.RouterStub(channel).ListModels(
            router_pb2.ListModelsRequest(), timeout=10
        )
    return list(reply.models)


async def test_models_of_demo_providers_say_demo(demo_router: RunningRouter) -> None:
    models = await list_models(demo_router)
    assert {m.provider for m in models if m.demo} == DEMO
    # Demo or not, platform access is still the platform key's business.
    assert {m.provider for m in models if m.platform_access} == set(PLATFORM_KEYS)


async def test_platform_access_on_a_demo_provider_is_demo_platform_access(demo_router: RunningRouter) -> None:
    for provider in sorted(DEMO):
        model = MODEL[provider]
        streamed = await demo_router.chat(chat_request(model, "hello demo"))
        assert streamed.error is None, streamed.error
        assert streamed.route is not None
        assert (streamed.route.provider, streamed.route.key_source, streamed.route.demo) == (
            provider,
            router_pb2.KEY_SOURCE_PLATFORM,
            True,
        )
        assert streamed.text == "echo: hello demo"
        completed = await demo_router.complete(chat_request(model, "hello again"))
        assert completed.route.demo is True
        assert completed.route.key_source == router_pb2.KEY_SOURCE_PLATFORM


async def test_a_provider_not_named_is_not_demo(demo_router: RunningRouter) -> None:
    streamed = await demo_router.chat(chat_request(MODEL["openai"]))
    assert streamed.route is not None
    assert streamed.route.key_source == router_pb2.KEY_SOURCE_PLATFORM
    assert streamed.route.demo is False
    completed = await demo_router.complete(chat_request(MODEL["openai"]))
    assert completed.route.demo is False


async def test_a_users_key_on_a_demo_provider_is_answered_by_the_demo_and_says_so(
    demo_router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    key = await store_key(vault, "anthropic")
    streamed = await demo_router.chat(chat_request(MODEL["anthropic"], keys=[key]))
    assert streamed.route is not None
    assert (streamed.route.key_source, streamed.route.demo) == (router_pb2.KEY_SOURCE_USER, True)
    assert provider_sim.keys_seen("anthropic") == {key.secret}


async def test_verifying_a_key_on_a_demo_provider_says_the_real_one_was_not_asked(
    demo_router: RunningRouter, vault: KeyVaultClient
) -> None:
    async def verify(provider: str) -> router_pb2.VerifyCredentialResponse:
        key = await store_key(vault, provider)
        request = router_pb2.VerifyCredentialRequest(
            envelope=key.envelope, binding=binding_to_proto(key.binding), provider=provider
        )
        async with demo_router.channel() as channel:
            return await router_pb2_grpc.RouterStub(channel).VerifyCredential(request, timeout=10)

    demo = await verify("google")
    assert demo.verdict == router_pb2.VERDICT_VALID
    assert demo.message == "the demo provider accepted the key (make dev: the real provider was not asked)"
    real = await verify("openai")
    assert (real.verdict, real.message) == (router_pb2.VERDICT_VALID, "the key works")


async def test_without_the_setting_nothing_is_demo(router: RunningRouter) -> None:
    assert not any(m.demo for m in await list_models(router))
    streamed = await router.chat(chat_request(MODEL["anthropic"]))
    assert streamed.route is not None
    assert streamed.route.demo is False


def test_an_unknown_demo_provider_is_refused_at_start() -> None:
    files = {f"tls_{name}_file": "/nonexistent" for name in ("ca", "cert", "key")}
    with pytest.raises(ValidationError, match=r"unknown providers \['nope'\]"):
        Settings(demo_providers="openai,nope", **files)  # type: ignore[arg-type]
    assert Settings(**files).providers() == Settings(demo_providers="", **files).providers()  # type: ignore[arg-type]
    assert not any(config.demo for config in Settings(**files).providers())  # type: ignore[arg-type]
