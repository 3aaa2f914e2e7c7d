"""Composition root: build the router from Settings and serve it until told to stop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from router.catalog import Catalog, load_catalog
from router.config import Settings
from router.invalid_reports import InvalidCredentialReporter
from router.keys import KeyCache
from router.keyvault_client import KeyVaultClient
from router.providers.base import ProviderAdapter
from router.providers.registry import aclose_all, build_adapters
from router.revocations import RevocationSync
from router.routing import Router
from router.servicer import RouterServicer
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.authz import Allow
from switchyard_common.entrypoint import wait_for_shutdown_signal
from switchyard_common.grpc_server import Endpoints, health_and_reflection_policy, start_endpoints
from switchyard_common.logs import configure_logging

__all__ = ["RouterServer", "authorization_policy", "main_async", "run"]

logger = logging.getLogger(__name__)

SERVICE_NAME = router_pb2.DESCRIPTOR.services_by_name["Router"].full_name


def authorization_policy(settings: Settings) -> dict[str, Allow]:
    """Only chat-api may call the router. A method missing here is denied to everyone."""
    chat_api = Allow(identities=frozenset({settings.chat_api_identity}))
    methods = ("Chat", "Complete", "ListModels", "VerifyCredential", "GetSealingKey")
    return {**{f"/{SERVICE_NAME}/{name}": chat_api for name in methods}, **health_and_reflection_policy()}


@dataclass
class RouterServer:
    settings: Settings
    # Tests point every provider client at the simulator through this; production leaves it None.
    transport: httpx.AsyncBaseTransport | None = None
    catalog: Catalog = field(default_factory=load_catalog)
    endpoints: Endpoints | None = None
    keys: KeyCache | None = None
    # When cached keys expire; tests move a clock of their own instead of sleeping through a TTL.
    clock: Callable[[], float] = time.monotonic
    adapters: dict[str, ProviderAdapter] = field(default_factory=dict)
    revocations: RevocationSync | None = None
    _keyvault: KeyVaultClient | None = None

    @property
    def port(self) -> int:
        return self.endpoints.port if self.endpoints else 0

    @property
    def health_port(self) -> int:
        return self.endpoints.health_port if self.endpoints else 0

    async def start(self) -> None:
        settings = self.settings
        self._keyvault = KeyVaultClient(
            settings.keyvault_address, settings.tls_files(), settings.keyvault_timeout_seconds
        )
        keys = self.keys = KeyCache(
            self._keyvault,
            ttl_seconds=settings.key_cache_ttl_seconds,
            max_entries=settings.key_cache_max_entries,
            clock=self.clock,
        )
        self.revocations = RevocationSync(
            keys, servers=settings.nats_servers(), retention_days=settings.revocation_retention_days
        )
        self.adapters = build_adapters(settings, transport=self.transport)
        providers = {config.name: config for config in settings.providers()}
        router = Router(
            providers=providers,
            adapters=self.adapters,
            catalog=self.catalog,
            keys=keys,
            report_invalid=InvalidCredentialReporter(self.revocations.jetstream),
            clock=lambda: datetime.now(UTC),
        )
        servicer = RouterServicer(
            router=router, catalog=self.catalog, adapters=self.adapters, keys=keys, keyvault=self._keyvault
        )
        self.endpoints = await start_endpoints(
            service_name=SERVICE_NAME,
            register=lambda server: router_pb2_grpc.add_RouterServicer_to_server(servicer, server),
            policy=authorization_policy(settings),
            host=settings.host,
            port=settings.port,
            health_port=settings.health_port,
            tls_files=settings.tls_files(),
            max_message_bytes=settings.max_message_bytes,
            env_prefix="ROUTER_",
        )
        self.revocations.start()
        # Serving does not wait for NATS: until the revocation feed is caught up the key cache is
        # bypassed (every BYOK request asks keyvault), and platform access needs neither.
        await self.endpoints.set_serving(True)
        platform = sorted(name for name, config in providers.items() if config.platform_key is not None)
        logger.info(
            "router listening on %s:%s (mTLS), health on %s; %s catalog models; platform access: %s; "
            "demo providers: %s",
            settings.host,
            self.port,
            self.health_port or "-",
            len(self.catalog.all()),
            platform or "none",
            sorted(router.demo_providers) or "none",
        )

    async def stop(self, grace: float | None = None) -> None:
        """Let open streams finish within `grace`, then close provider, keyvault and NATS clients."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        if self.endpoints is not None:
            await self.endpoints.stop(grace)
        if self.revocations is not None:
            await self.revocations.stop()
        await aclose_all(self.adapters)
        if self._keyvault is not None:
            await self._keyvault.aclose()
        logger.info("router stopped")


async def main_async(settings: Settings) -> None:
    server = RouterServer(settings)
    await server.start()
    await wait_for_shutdown_signal()
    logger.info("shutting down")
    await server.stop()


def run() -> None:
    settings = Settings()  # type: ignore[call-arg]  # required fields come from the environment
    configure_logging("router", settings.log_level)
    asyncio.run(main_async(settings))
