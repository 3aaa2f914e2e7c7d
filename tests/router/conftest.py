"""Router fixtures: the provider simulator and a real router wired to real keyvault and NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from router.server import RouterServer
from tests.conftest import RunningKeyVault
from tests.support.keyvault import KeyVaultClient, TestPki
from tests.support.nats_server import NatsServer
from tests.support.provider_sim import ProviderSimulator
from tests.support.router import RunningRouter, router_settings
from tests.support.teardown import bounded


@pytest.fixture
async def provider_sim() -> AsyncIterator[ProviderSimulator]:
    sim = ProviderSimulator()
    await sim.start()
    yield sim
    await bounded(sim.stop(), "the provider simulator")


@pytest.fixture
async def vault(keyvault: RunningKeyVault) -> AsyncIterator[KeyVaultClient]:
    client = keyvault.client()
    yield client
    await bounded(client.close(), "the keyvault client")


@pytest.fixture
async def router(
    test_pki: TestPki, keyvault: RunningKeyVault, nats_server: NatsServer, provider_sim: ProviderSimulator
) -> AsyncIterator[RunningRouter]:
    settings = router_settings(
        pki=test_pki, keyvault_port=keyvault.port, nats_url=nats_server.url, sim=provider_sim
    )
    server = RouterServer(settings)
    await server.start()
    yield RunningRouter(server=server, pki=test_pki)
    await bounded(server.stop(grace=0), "the router")
