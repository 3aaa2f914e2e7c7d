"""Faults around the router, seen through whole requests on its gRPC API, as chat-api sees them.

A revocation published on a real nats-server, NATS going away and coming back, keyvault going away
and coming back on the same port, caching turned off, 50 concurrent chats sharing one Decrypt, and
the health / reflection / authorization surface. Real components throughout: nats-server, keyvault
in-process over mTLS, the router over mTLS, the provider simulator. Decrypt calls are counted in
keyvault's own audit log (and cross-checked against the router's cache statistics).

The cache-level behaviour behind these (purge, bypass, single flight, TTL) is tested directly in
test_keys.py and test_router_revocations.py; here it must hold for whole chat requests.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from keyvault.config import Settings as KeyVaultSettings
from keyvault.server import KeyVaultServer
from router.catalog import load_catalog
from router.keys import KeyCache
from router.server import RouterServer
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.mtls import channel_credentials
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import (
    KeyVaultClient,
    binding_to_proto,
    keyvault_settings,
    probe_health,
    started,
)
from tests.support.keyvault import (
    TestPki as Pki,
)
from tests.support.nats_server import NatsServer
from tests.support.ports import free_port
from tests.support.router import (
    PLATFORM_KEYS,
    ChatResult,
    StoredKey,
    chat_request,
    publish_revoked,
    router_settings,
    store_key,
)

CATALOG = load_catalog()
SETTLE_SECONDS = 10.0  # bound for anything that waits on NATS (re)connecting or keyvault coming back
PROPAGATION_BOUND_SECONDS = 5.0
SHORT_TTL = 1.5
ROUTER_SERVICE = "switchyard.router.v1.Router"


def model_for(provider: str) -> str:
    return CATALOG.for_provider(provider)[0].id


def byok(key: StoredKey, text: str = "hello router") -> router_pb2.ChatRequest:
    return chat_request(model_for(key.binding.provider), text, keys=[key])


# --- keyvault that a test may stop and start again ------------------------------------------------


class Vault:
    """keyvault in-process; `stop()` and `start()` again keep its port, keys and audit log."""

    def __init__(self, settings: KeyVaultSettings, audit_path: Path) -> None:
        self.settings = settings
        self.audit_path = audit_path
        self.server: KeyVaultServer | None = None
        self.port = 0

    async def start(self) -> None:
        assert self.server is None, "already running"
        settings = self.settings.model_copy(update={"port": self.port}) if self.port else self.settings
        self.server = await started(settings)
        self.port = self.server.port

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop(grace=0)

    def decrypts(self, key: StoredKey | None = None) -> int:
        """Decrypt calls keyvault audited (for one credential, or all)."""
        if not self.audit_path.exists():
            return 0
        records = [json.loads(line) for line in self.audit_path.read_text().splitlines()]
        return sum(
            1
            for record in records
            if record["operation"] == "decrypt"
            and (key is None or record["credential_id"] == key.binding.credential_id)
        )


@pytest.fixture
async def vault_server(
    test_pki: Pki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[Vault]:
    audit_path = tmp_path / "audit.jsonl"
    settings = keyvault_settings(
        pki_=test_pki, keys_dir=keys_dir, nats_url=nats_server.url, audit_path=audit_path
    )
    vault = Vault(settings, audit_path)
    await vault.start()
    yield vault
    await vault.stop()


@pytest.fixture
def sealer(vault_server: Vault, test_pki: Pki) -> KeyVaultClient:
    """Seals as chat-api does (the port survives keyvault restarts)."""
    return KeyVaultClient(vault_server.port, test_pki)


# --- the router under test, called over one long-lived mTLS channel -------------------------------


@dataclass
class RouterUnderTest:
    server: RouterServer
    channel: aio.Channel

    @property
    def keys(self) -> KeyCache:
        assert self.server.keys is not None
        return self.server.keys

    @property
    def stub(self) -> router_pb2_grpc.RouterAsyncStub:
        return router_pb2_grpc.RouterStub(self.channel)

    async def chat(self, request: router_pb2.ChatRequest) -> ChatResult:
        result = ChatResult()
        async for event in self.stub.Chat(request, timeout=20):
            result.events.append(event)
        return result

    async def complete(self, request: router_pb2.ChatRequest) -> router_pb2.CompleteResponse:
        return await self.stub.Complete(request, timeout=20)

    async def caching(self) -> None:
        """Wait until the revocation feed has caught up, i.e. the key cache is in use."""
        revocations = self.server.revocations
        assert revocations is not None
        await wait_for(lambda: revocations.healthy, within=SETTLE_SECONDS, what="revocation feed caught up")
        assert not self.keys.bypass


RouterFactory = Callable[..., Awaitable[RouterUnderTest]]


@pytest.fixture
async def routers(
    test_pki: Pki, vault_server: Vault, nats_server: NatsServer, provider_sim: ProviderSimulator
) -> AsyncIterator[RouterFactory]:
    """Start routers with settings overrides; all are stopped after the test."""
    running: list[RouterUnderTest] = []

    async def start(*, clock: Callable[[], float] = time.monotonic, **overrides: object) -> RouterUnderTest:
        settings = router_settings(
            pki=test_pki,
            keyvault_port=vault_server.port,
            nats_url=nats_server.url,
            sim=provider_sim,
            **overrides,
        )
        server = RouterServer(settings, clock=clock)
        await server.start()
        credentials = channel_credentials(test_pki.files["chat-api"])
        channel = aio.secure_channel(f"localhost:{server.port}", credentials)
        running.append(RouterUnderTest(server=server, channel=channel))
        return running[-1]

    yield start
    for router in running:
        await router.channel.close(None)
        await router.server.stop(grace=0)


# --- helpers --------------------------------------------------------------------------------------


class ManualClock:
    """The router's key-cache clock, moved only by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def wait_for(condition: Callable[[], bool], *, within: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            pytest.fail(f"{what}: not within {within}s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


def uses(sim: ProviderSimulator, secret: str) -> int:
    """Provider calls made with this key."""
    return sum(1 for call in sim.calls if call.api_key == secret)


def assert_served(result: ChatResult, key: StoredKey | None = None, text: str = "hello router") -> None:
    assert result.error is None, result.error
    assert result.route is not None
    if key is None:
        assert result.route.key_source == router_pb2.KEY_SOURCE_PLATFORM
    else:
        assert result.route.key_source == router_pb2.KEY_SOURCE_USER
        assert result.route.credential_id == key.binding.credential_id
    assert result.text == f"echo: {text}"
    assert result.finish is not None


def assert_refused(result: ChatResult, error_type: int, provider: str = "openai") -> router_pb2.Error:
    assert result.error is not None, result.events
    assert result.error.type == error_type, result.error
    assert result.error.provider == provider
    assert result.route is None
    assert len(result.events) == 1
    return result.error


# --- revocation -----------------------------------------------------------------------------------


async def test_revocation_refuses_a_cached_key_on_the_next_chats(
    routers: RouterFactory,
    vault_server: Vault,
    sealer: KeyVaultClient,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
    record_property: Callable[[str, object], None],
) -> None:
    router = await routers()
    await router.caching()
    key = await store_key(sealer, "openai")
    kept = await store_key(sealer, "openai")
    for stored in (key, key, kept):
        assert_served(await router.chat(byok(stored)), stored)
    assert vault_server.decrypts(key) == 1, "the second chat must be served from the cache"
    assert router.keys.stats.decrypts == 2
    assert router.keys.stats.hits == 1

    acked = await publish_revoked(nats_server.url, key)
    served_meanwhile = 0
    while True:
        result = await router.chat(byok(key))
        refused_at = time.monotonic()
        if result.error is not None:
            break
        assert_served(result, key)  # not yet applied: still the user's key, nothing else
        served_meanwhile += 1
        if refused_at - acked > PROPAGATION_BOUND_SECONDS:
            pytest.fail(f"the router still served a revoked key {PROPAGATION_BOUND_SECONDS}s after the ack")
    elapsed_ms = (refused_at - acked) * 1000
    print(f"\nrouter refused the revoked key {elapsed_ms:.1f} ms after the publish ack", end=" ")
    print(f"({served_meanwhile} chats served meanwhile)")
    record_property("router_refuses_revoked_key_after_ack_ms", round(elapsed_ms, 1))

    error = assert_refused(result, router_pb2.ERROR_TYPE_CREDENTIAL_UNUSABLE)
    assert "can no longer be used" in error.message
    seen = uses(provider_sim, key.secret)
    for _ in range(3):
        assert_refused(await router.chat(byok(key)), router_pb2.ERROR_TYPE_CREDENTIAL_UNUSABLE)
        completed = await router.complete(byok(key))
        assert completed.error.type == router_pb2.ERROR_TYPE_CREDENTIAL_UNUSABLE
        assert not completed.HasField("route")
    assert uses(provider_sim, key.secret) == seen, "the simulator saw the revoked key again"
    assert vault_server.decrypts(key) == 1, "refused by the router itself, without asking keyvault"
    # Only that credential: another key stays cached and served.
    assert_served(await router.chat(byok(kept)), kept)
    assert vault_server.decrypts(kept) == 1


# --- NATS down ------------------------------------------------------------------------------------


async def test_nats_outage_keeps_serving_by_bypassing_the_cache_until_it_is_back(
    routers: RouterFactory,
    vault_server: Vault,
    sealer: KeyVaultClient,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
    record_property: Callable[[str, object], None],
) -> None:
    router = await routers()
    await router.caching()
    key = await store_key(sealer, "openai")
    for _ in range(2):
        assert_served(await router.chat(byok(key)), key)
    assert vault_server.decrypts(key) == 1

    nats_server.stop()
    await wait_for(lambda: router.keys.bypass, within=SETTLE_SECONDS, what="cache bypassed after NATS loss")
    for n in range(2, 5):
        assert_served(await router.chat(byok(key)), key)
        assert vault_server.decrypts(key) == n, "while NATS is down every BYOK chat asks keyvault"
    newcomer = await store_key(sealer, "anthropic")
    assert_served(await router.chat(byok(newcomer)), newcomer)
    platform = await router.chat(chat_request(model_for("google")))
    assert_served(platform)
    assert provider_sim.keys_seen("google") == {PLATFORM_KEYS["google"]}
    assert len(router.keys) == 0

    nats_server.start()
    restarted = time.monotonic()
    # Caching resumes by itself: chat until one is served without a Decrypt.
    while True:
        before = vault_server.decrypts(key)
        assert_served(await router.chat(byok(key)), key)
        if vault_server.decrypts(key) == before:
            break
        if time.monotonic() - restarted > SETTLE_SECONDS:
            pytest.fail(f"caching did not resume within {SETTLE_SECONDS}s of NATS coming back")
        await asyncio.sleep(0.02)
    resumed_ms = (time.monotonic() - restarted) * 1000
    print(f"\nrouter caching again {resumed_ms:.0f} ms after NATS came back")
    record_property("router_caching_resumed_after_nats_restart_ms", round(resumed_ms))
    cached = vault_server.decrypts(key)
    for _ in range(3):
        assert_served(await router.chat(byok(key)), key)
    assert vault_server.decrypts(key) == cached

    # A revocation published after the restart reaches the router, which refuses on its own.
    acked = await publish_revoked(nats_server.url, key)
    while (result := await router.chat(byok(key))).error is None:
        assert time.monotonic() - acked < PROPAGATION_BOUND_SECONDS, "revocation not applied"
    assert_refused(result, router_pb2.ERROR_TYPE_CREDENTIAL_UNUSABLE)
    assert vault_server.decrypts(key) == cached


# --- keyvault down --------------------------------------------------------------------------------


async def test_keyvault_outage_fails_uncached_keys_cached_ones_last_their_ttl_and_recovery_is_automatic(
    routers: RouterFactory,
    vault_server: Vault,
    sealer: KeyVaultClient,
    provider_sim: ProviderSimulator,
    record_property: Callable[[str, object], None],
) -> None:
    clock = ManualClock()
    router = await routers(key_cache_ttl_seconds=SHORT_TTL, clock=clock)
    await router.caching()
    cached = await store_key(sealer, "openai")
    uncached = await store_key(sealer, "openai")
    assert_served(await router.chat(byok(cached)), cached)  # cached at clock.now == 0
    port = vault_server.port

    await vault_server.stop()
    assert_served(await router.chat(byok(cached)), cached)  # from the cache, within its TTL

    openai_calls = len(provider_sim.calls_for("openai"))
    error = assert_refused(await router.chat(byok(uncached)), router_pb2.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE)
    assert "key service unavailable" in error.message
    completed = await router.complete(byok(uncached))
    assert completed.error.type == router_pb2.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE
    assert "key service unavailable" in completed.error.message
    assert len(provider_sim.calls_for("openai")) == openai_calls, "no provider call without a key"
    assert uses(provider_sim, uncached.secret) == 0
    for provider in ("anthropic", "google"):  # platform access needs no keyvault
        assert_served(await router.chat(chat_request(model_for(provider))))
    assert provider_sim.keys_seen("anthropic") == {PLATFORM_KEYS["anthropic"]}

    # The cached key keeps working until its TTL runs out, then fails like any other.
    clock.now = SHORT_TTL - 0.25
    assert_served(await router.chat(byok(cached)), cached)
    clock.now = SHORT_TTL
    assert_refused(await router.chat(byok(cached)), router_pb2.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE)
    used = uses(provider_sim, cached.secret)

    # keyvault back on the same port: the router's own channel reconnects, no router restart.
    await vault_server.start()
    assert vault_server.port == port
    back = time.monotonic()
    while (result := await router.chat(byok(uncached))).error is not None:
        assert_refused(result, router_pb2.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE)
        assert time.monotonic() - back < SETTLE_SECONDS, "BYOK did not recover after keyvault came back"
        await asyncio.sleep(0.05)
    recovered_ms = (time.monotonic() - back) * 1000
    print(f"\nBYOK served again {recovered_ms:.0f} ms after keyvault came back")
    record_property("router_byok_recovered_after_keyvault_restart_ms", round(recovered_ms))
    assert_served(result, uncached)
    assert_served(await router.chat(byok(cached)), cached)
    assert uses(provider_sim, cached.secret) == used + 1


# --- caching off, single flight -------------------------------------------------------------------


async def test_ttl_zero_decrypts_on_every_chat(
    routers: RouterFactory, vault_server: Vault, sealer: KeyVaultClient
) -> None:
    router = await routers(key_cache_ttl_seconds=0)
    await router.caching()  # the feed is caught up: only the TTL keeps the cache out of use
    key = await store_key(sealer, "google", secret="AIza" + uuid.uuid4().hex + "000")
    for n in range(1, 5):
        assert_served(await router.chat(byok(key)), key)
        assert vault_server.decrypts(key) == n
    assert router.keys.stats.decrypts == 4
    assert router.keys.stats.hits == 0
    assert len(router.keys) == 0


async def test_concurrent_chats_with_a_new_key_share_one_decrypt(
    routers: RouterFactory, vault_server: Vault, sealer: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    router = await routers()
    await router.caching()
    key = await store_key(sealer, "anthropic")
    results = await asyncio.gather(*(router.chat(byok(key, f"chat {n}")) for n in range(50)))
    for n, result in enumerate(results):
        assert_served(result, key, f"chat {n}")
    assert vault_server.decrypts(key) == 1
    stats = router.keys.stats
    assert stats.decrypts == 1
    assert stats.coalesced >= 1, "the chats did not overlap: single flight was not exercised"
    assert stats.coalesced + stats.hits == 49
    assert uses(provider_sim, key.secret) == 50


# --- health, reflection, authorization ------------------------------------------------------------


async def _list_services(channel: aio.Channel) -> set[str]:
    call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
    )
    names: set[str] = set()
    async for response in call:
        names.update(service.name for service in response.list_services_response.service)
    return names


async def _router_calls(
    stub: router_pb2_grpc.RouterAsyncStub, key: StoredKey
) -> dict[str, Callable[[], Awaitable[object]]]:
    """One call per Router method, each carrying a real stored key."""

    async def chat() -> object:
        return [event async for event in stub.Chat(byok(key), timeout=10)]

    verify = router_pb2.VerifyCredentialRequest(
        envelope=key.envelope, binding=binding_to_proto(key.binding), provider=key.binding.provider
    )
    return {
        "Chat": chat,
        "Complete": lambda: stub.Complete(byok(key), timeout=10),
        "ListModels": lambda: stub.ListModels(router_pb2.ListModelsRequest(), timeout=10),
        "VerifyCredential": lambda: stub.VerifyCredential(verify, timeout=10),
    }


async def test_health_reflection_and_only_chat_api_may_call_router_methods(
    routers: RouterFactory,
    vault_server: Vault,
    sealer: KeyVaultClient,
    test_pki: Pki,
    provider_sim: ProviderSimulator,
) -> None:
    health_port = free_port()
    router = await routers(health_port=health_port)
    assert router.server.health_port == health_port
    assert await probe_health(health_port, timeout=10) == health_pb2.HealthCheckResponse.SERVING
    async with aio.insecure_channel(f"127.0.0.1:{health_port}") as plain:
        service = await health_pb2_grpc.HealthStub(plain).Check(
            health_pb2.HealthCheckRequest(service=ROUTER_SERVICE), timeout=10
        )
        assert service.status == health_pb2.HealthCheckResponse.SERVING
        # The probe port carries health only: no Router method, no reflection, no client certificate.
        with pytest.raises(aio.AioRpcError) as info:
            await router_pb2_grpc.RouterStub(plain).ListModels(router_pb2.ListModelsRequest(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED

    assert await _list_services(router.channel) == {
        ROUTER_SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }

    key = await store_key(sealer, "openai")
    for identity in ("keyvault", "router"):
        channel = aio.secure_channel(
            f"localhost:{router.server.port}", channel_credentials(test_pki.files[identity])
        )
        async with channel:
            assert ROUTER_SERVICE in await _list_services(channel)  # authenticated: may look, not call
            for method, call in (await _router_calls(router_pb2_grpc.RouterStub(channel), key)).items():
                with pytest.raises(aio.AioRpcError) as info:
                    await call()
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, (identity, method)
    assert provider_sim.calls == []
    assert vault_server.decrypts() == 0

    # The same calls as chat-api go through, so the refusals above were about the caller alone.
    allowed = await _router_calls(router.stub, key)
    for call in allowed.values():
        await call()
    assert uses(provider_sim, key.secret) >= 2
