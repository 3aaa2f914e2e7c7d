"""The BYOK routing matrix through the real router: which access serves, and which key the
provider simulator actually saw. Real keyvault, real NATS, real mTLS gRPC."""

from __future__ import annotations

import itertools

import pytest

from router.catalog import load_catalog
from switchyard.router.v1 import router_pb2
from switchyard_common.chat_vocabulary import KEY_SOURCES
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import KeyVaultClient
from tests.support.router import PLATFORM_KEYS, RunningRouter, StoredKey, chat_request, store_key

CATALOG = load_catalog()
# Providers with platform access in the test router, and one without (BYOK only).
PROVIDERS = ["openai", "anthropic", "google", "mistral"]
HOLDINGS = ["user+org", "user", "org", "none"]
POLICIES = ["default", "require_org_key", "forbid_platform"]


def model_for(provider: str) -> str:
    return CATALOG.for_provider(provider)[0].id


def expected(provider: str, holding: str, policy: str) -> str:
    """The rule, stated independently of the router's code: user → org → platform → none."""
    has_user, has_org = "user" in holding, "org" in holding
    platform = provider in PLATFORM_KEYS and policy == "default"
    if policy == "require_org_key":
        return "org" if has_org else "no_access"
    if has_user:
        return "user"
    if has_org:
        return "org"
    return "platform" if platform else "no_access"


@pytest.mark.parametrize(
    ("provider", "holding", "policy"), list(itertools.product(PROVIDERS, HOLDINGS, POLICIES))
)
async def test_routing_matrix(
    router: RunningRouter,
    vault: KeyVaultClient,
    provider_sim: ProviderSimulator,
    provider: str,
    holding: str,
    policy: str,
) -> None:
    keys: dict[str, StoredKey] = {}
    if "user" in holding:
        keys["user"] = await store_key(vault, provider, scope="user", owner_id="user-1")
    if "org" in holding:
        keys["org"] = await store_key(vault, provider, scope="org", owner_id="org-1")
    policies = []
    if policy != "default":
        policies.append(router_pb2.ProviderPolicy(provider=provider, **{policy: True}))
    request = chat_request(model_for(provider), "route me", keys=keys.values(), policies=policies)

    result = await router.chat(request)

    outcome = expected(provider, holding, policy)
    if outcome == "no_access":
        assert result.error is not None, result.events
        assert result.error.type == router_pb2.ERROR_TYPE_NO_ACCESS
        assert result.route is None
        assert provider_sim.calls_for(provider) == []
        return
    assert result.error is None, result.error
    assert result.route is not None
    assert result.events[0].HasField("route"), "the route event comes first"
    assert KEY_SOURCES[result.route.key_source] == outcome
    assert result.route.provider == provider
    assert result.route.model == model_for(provider)
    seen = provider_sim.keys_seen(provider)
    if outcome == "platform":
        assert seen == {PLATFORM_KEYS[provider]}
        assert result.route.credential_id == ""
    else:
        assert seen == {keys[outcome].secret}
        assert result.route.credential_id == keys[outcome].binding.credential_id
    assert result.text == "echo: route me"
    assert result.finish is not None
    assert result.finish.usage.output_tokens > 0
    assert provider_sim.violations == []


async def test_other_providers_keep_platform_access_while_one_uses_the_users_key(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    openai_key = await store_key(vault, "openai")
    mine = await router.chat(chat_request(model_for("openai"), keys=[openai_key]))
    theirs = await router.chat(chat_request(model_for("anthropic"), keys=[openai_key]))
    assert mine.route is not None
    assert mine.route.key_source == router_pb2.KEY_SOURCE_USER
    assert theirs.route is not None
    assert theirs.route.key_source == router_pb2.KEY_SOURCE_PLATFORM
    assert provider_sim.keys_seen("openai") == {openai_key.secret}
    assert provider_sim.keys_seen("anthropic") == {PLATFORM_KEYS["anthropic"]}


async def test_expired_user_key_is_never_used(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    key = await store_key(vault, "openai")
    request = chat_request(model_for("openai"), keys=[key])
    request.credentials[0].expires_at.FromSeconds(1_600_000_000)  # 2020
    result = await router.chat(request)
    assert result.route is not None
    assert result.route.key_source == router_pb2.KEY_SOURCE_PLATFORM
    assert key.secret not in provider_sim.keys_seen("openai")


async def test_another_users_envelope_cannot_be_used(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    """chat-api sends the caller's own rows; an envelope claimed for another owner fails to open."""
    victim = await store_key(vault, "mistral", owner_id="victim")
    stolen = StoredKey(binding=victim.binding, envelope=victim.envelope, secret=victim.secret)
    request = chat_request(model_for("mistral"), keys=[stolen], user_id="attacker")
    request.credentials[0].binding.owner_id = "attacker"
    result = await router.chat(request)
    assert result.error is not None
    assert result.error.type == router_pb2.ERROR_TYPE_CREDENTIAL_UNUSABLE
    assert provider_sim.calls_for("mistral") == []


async def test_only_chat_api_may_call_the_router(router: RunningRouter) -> None:
    from grpc import StatusCode, aio

    with pytest.raises(aio.AioRpcError) as info:
        await router.chat(chat_request(model_for("openai")), identity="keyvault")
    assert info.value.code() == StatusCode.PERMISSION_DENIED
