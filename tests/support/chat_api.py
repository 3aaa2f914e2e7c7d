"""chat-api served by uvicorn on a real port inside the test's event loop, in front of a real
router, keyvault, NATS and PostgreSQL, with helpers to act as a user of the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from chat_api.core.config import Settings
from chat_api.main import create_app
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.support.router import RunningRouter

# Shapes each provider's keys really have, so they pass chat-api's validation: prefix, body length.
VALID_KEYS: dict[str, tuple[str, int]] = {
    "openai": ("sk-proj-", 48),
    "anthropic": ("sk-ant-api03-", 93),
    "google": ("AIza", 35),
    "mistral": ("", 32),
    "groq": ("gsk_", 52),
    "deepseek": ("sk-", 32),
    "xai": ("xai-", 80),
    "together": ("", 64),
    "openrouter": ("sk-or-v1-", 64),
}


PASSWORD = "correct horse battery"
# For an app whose lifespan never runs (OpenAPI, static files): a PostgreSQL URL nothing connects to.
UNUSED_DATABASE_URL = "postgresql+psycopg://switchyard@127.0.0.1:9/unused"


def provider_key(provider: str) -> str:
    """A fresh key of `provider`'s shape: its usual prefix, then random hex of its usual length."""
    prefix, length = VALID_KEYS[provider]
    return prefix + secrets.token_hex(length)[:length]


def chat_api_stack_settings(
    *, pki: TestPki, database_url: str, router_port: int, nats_url: str, **overrides: Any
) -> Settings:
    files = pki.files["chat-api"]
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "database_url": database_url,
        "router_address": f"localhost:{router_port}",
        "nats_url": nats_url,
        "tls_ca_file": files.ca,
        "tls_cert_file": files.cert,
        "tls_key_file": files.key,
        "migrate_on_start": False,
        "shutdown_grace_seconds": 0,
        "outbox_retry_seconds": 0.05,
        "outbox_retry_max_seconds": 0.5,
        # Many tests drive tight chat loops or add many keys as one user; the per-user limits have
        # their own tests (tests/chat_api/test_limits.py), which turn them on.
        "chat_rate_per_minute": 0,
        "key_check_rate_per_minute": 0,
    }
    values.update(overrides)
    return Settings(**values)


class ServedApp:
    """uvicorn serving one app on a free port of 127.0.0.1 in the current event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        sockets = self._server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)


@dataclass
class User:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class ChatApiStack:
    """The whole stack; `http` is an httpx client on chat-api's base URL."""

    api: ServedApp
    router: RunningRouter
    sim: ProviderSimulator
    nats: NatsServer
    database_url: str
    http: httpx.AsyncClient

    @property
    def base_url(self) -> str:
        return self.api.base_url

    def open_transactions(self) -> int:
        """Sessions on this stack's database that hold a transaction open (e.g. a lease's locks)."""
        engine = create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                query = text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
                return int(connection.execute(query).scalar_one())
        finally:
            engine.dispose()

    async def register(self, email: str | None = None, password: str = PASSWORD) -> User:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = await self.http.post("/v1/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        body = response.json()
        return User(id=body["user"]["id"], email=email, token=body["access_token"])

    async def add_key(
        self, user: User, provider: str, api_key: str | None = None, *, path: str = "/v1/keys", **fields: Any
    ) -> dict[str, Any]:
        body = {"provider": provider, "api_key": api_key or provider_key(provider), **fields}
        response = await self.http.post(path, json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@contextlib.asynccontextmanager
async def serving_chat_api(settings: Settings) -> AsyncIterator[ServedApp]:
    served = ServedApp(settings)
    await served.start()
    try:
        yield served
    finally:
        await served.stop()


__all__ = [
    "ChatApiStack",
    "ServedApp",
    "User",
    "chat_api_stack_settings",
    "provider_key",
    "serving_chat_api",
]
