"""A router deployed with the wrong certificate: users get a typed error, operators a clear log."""

from __future__ import annotations

import logging

import pytest

from router.catalog import load_catalog
from router.server import RouterServer
from switchyard.router.v1 import router_pb2
from switchyard_dev.provider_sim import ProviderSimulator
from tests.conftest import RunningKeyVault
from tests.support.keyvault import KeyVaultClient, TestPki
from tests.support.nats_server import NatsServer
from tests.support.router import RunningRouter, chat_request, router_settings, store_key
from tests.support.teardown import bounded


async def test_router_with_chat_api_certificate_reports_key_service_unavailable(
    test_pki: TestPki,
    keyvault: RunningKeyVault,
    vault: KeyVaultClient,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = test_pki.files["chat-api"]  # keyvault lets only the router identity Decrypt
    settings = router_settings(
        pki=test_pki,
        keyvault_port=keyvault.port,
        nats_url=nats_server.url,
        sim=provider_sim,
        tls_cert_file=wrong.cert,
        tls_key_file=wrong.key,
    )
    server = RouterServer(settings)
    await server.start()
    try:
        # The router's own port still trusts chat-api callers, so the test can call it.
        router = RunningRouter(server=server, pki=test_pki)
        key = await store_key(vault, "mistral")
        with caplog.at_level(logging.ERROR, logger="router.keyvault_client"):
            result = await router.chat(chat_request(load_catalog().for_provider("mistral")[0].id, keys=[key]))
    finally:
        await bounded(server.stop(grace=0), "the router")
    assert result.error is not None
    assert result.error.type == router_pb2.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE
    assert provider_sim.calls_for("mistral") == []
    assert any("ROUTER_TLS_CERT_FILE" in record.getMessage() for record in caplog.records)
