"""/readyz against the real stack: ready with everything up, naming NATS or the router when they go."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from chat_api.core.problems import PROBLEM_BASE
from tests.conftest import RunningKeyVault
from tests.support.chat_api import ChatApiStack, chat_api_stack_settings, serving_chat_api
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.support.ports import free_port

READY = {"status": "ok", "database": "ok", "nats": "ok", "router": "ok"}


async def readiness_becomes(
    http: httpx.AsyncClient, wanted: Any, *, status: int, timeout: float = 20
) -> httpx.Response:
    """Poll /readyz until it answers `status` with a body (or `failed` list) equal to `wanted`."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get("/readyz")
        body = response.json()
        seen = body if status == 200 else body.get("failed")
        if response.status_code == status and seen == wanted:
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz still {response.status_code} {body}")
        await asyncio.sleep(0.1)


async def test_ready_with_the_whole_stack(stack: ChatApiStack) -> None:
    response = await readiness_becomes(stack.http, READY, status=200)
    assert response.headers["content-type"] == "application/json"


async def test_not_ready_while_nats_is_down_and_ready_again_after(stack: ChatApiStack) -> None:
    await readiness_becomes(stack.http, READY, status=200)
    stack.nats.stop()
    try:
        response = await readiness_becomes(stack.http, ["nats"], status=503)
    finally:
        stack.nats.start()
    body = response.json()
    assert body["type"] == PROBLEM_BASE + "unavailable"
    assert "nats" in body["detail"]
    assert stack.nats.url not in response.text
    await readiness_becomes(stack.http, READY, status=200)


async def test_not_ready_when_the_router_is_unreachable(
    test_pki: TestPki, database_url: str, keyvault: RunningKeyVault, nats_server: NatsServer
) -> None:
    closed = free_port()
    settings = chat_api_stack_settings(
        pki=test_pki,
        database_url=database_url,
        router_port=closed,
        nats_url=nats_server.url,
    )
    async with (
        serving_chat_api(settings) as api,
        httpx.AsyncClient(base_url=api.base_url, timeout=10) as http,
    ):
        response = await readiness_becomes(http, ["router"], status=503)
    assert response.json()["type"] == PROBLEM_BASE + "unavailable"
    assert str(closed) not in response.text
    assert "postgresql" not in response.text
