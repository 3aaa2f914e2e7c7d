"""The stack as `make dev` runs it when some providers are served by the demo provider: a router
with ROUTER_DEMO_PROVIDERS set, and chat-api in front of it (in-process, real ports)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from router.server import RouterServer
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.chat_api import ChatApiStack, chat_api_stack_settings, serving_chat_api
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.support.router import RunningRouter, router_settings
from tests.support.teardown import bounded

__all__ = ["DEMO_HEADER", "demo_chat_api_stack"]

DEMO_HEADER = "X-Switchyard-Demo"


@contextlib.asynccontextmanager
async def demo_chat_api_stack(
    *,
    demo_providers: str,
    database_url: str,
    pki: TestPki,
    keyvault_port: int,
    nats: NatsServer,
    sim: ProviderSimulator,
) -> AsyncIterator[ChatApiStack]:
    server = RouterServer(
        router_settings(
            pki=pki, keyvault_port=keyvault_port, nats_url=nats.url, sim=sim, demo_providers=demo_providers
        )
    )
    await server.start()
    router = RunningRouter(server=server, pki=pki)
    settings = chat_api_stack_settings(
        pki=pki, database_url=database_url, router_port=router.port, nats_url=nats.url
    )
    try:
        async with (
            serving_chat_api(settings) as api,
            httpx.AsyncClient(base_url=api.base_url, timeout=30) as http,
        ):
            yield ChatApiStack(
                api=api, router=router, sim=sim, nats=nats, database_url=database_url, http=http
            )
    finally:
        await bounded(server.stop(grace=0), "the demo router")
