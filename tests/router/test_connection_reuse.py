"""Finished streams hand their connection back to the pool: one TCP connection serves many calls."""

from __future__ import annotations

import pytest

from router.providers.base import ChatMessage, ProviderCall
from router.providers.registry import aclose_all, build_adapters
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import TestPki
from tests.support.router import router_settings

CALL = ProviderCall("model-x", (ChatMessage("user", ("reuse me please",)),))


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_sequential_streams_reuse_one_connection(
    provider: str, provider_sim: ProviderSimulator, test_pki: TestPki
) -> None:
    settings = router_settings(pki=test_pki, keyvault_port=1, nats_url="nats://127.0.0.1:1", sim=provider_sim)
    adapters = build_adapters(settings)
    try:
        for _ in range(5):
            texts = [item async for item in adapters[provider].stream(CALL, "sk-reuse-0123456789")]
            assert texts, "the stream produced events"
        await adapters[provider].complete(CALL, "sk-reuse-0123456789")
    finally:
        await aclose_all(adapters)
    ports = {call.client_port for call in provider_sim.calls_for(provider)}
    assert len(provider_sim.calls_for(provider)) == 6
    assert len(ports) == 1, f"{len(ports)} connections for 6 sequential calls"
