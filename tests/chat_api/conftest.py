"""chat-api on a freshly migrated real PostgreSQL database, driven in-process through TestClient."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from chat_api.core.config import Settings
from chat_api.main import create_app
from switchyard_dev.provider_sim import ProviderSimulator
from tests.conftest import RunningKeyVault
from tests.support.accounts import Account, add_member, create_org, signup
from tests.support.chat_api import ChatApiStack, chat_api_stack_settings, serving_chat_api
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.support.postgres import sqlalchemy_url
from tests.support.router import RunningRouter


def chat_api_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    # The mTLS files are not opened until chat-api dials router/keyvault, which this slice never does.
    tls = {f"tls_{name}_file": tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    return Settings(database_url=SecretStr(database_url), **tls, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def database_url(migrated_postgres_url: str) -> str:
    return sqlalchemy_url(migrated_postgres_url)


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(chat_api_settings(database_url, tmp_path))) as test_client:
        yield test_client


@pytest.fixture
def team(client: TestClient) -> tuple[str, dict[str, Account]]:
    """An org with one member of each role, and an outsider."""
    people = {role: signup(client, role) for role in ("owner", "admin", "member", "outsider")}
    org_id = create_org(client, people["owner"])
    add_member(client, org_id, people["owner"], people["admin"], "admin")
    add_member(client, org_id, people["owner"], people["member"], "member")
    return org_id, people


StackFactory = Callable[..., AbstractAsyncContextManager[ChatApiStack]]


@pytest.fixture
def stack_with(
    database_url: str,
    test_pki: TestPki,
    keyvault: RunningKeyVault,
    router: RunningRouter,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
) -> StackFactory:
    """`async with stack_with(**settings_overrides) as stack`: the `stack` on other chat-api settings."""

    @contextlib.asynccontextmanager
    async def serve(**overrides: Any) -> AsyncIterator[ChatApiStack]:
        settings = chat_api_stack_settings(
            pki=test_pki,
            database_url=database_url,
            router_port=router.port,
            nats_url=nats_server.url,
            **overrides,
        )
        async with (
            serving_chat_api(settings) as api,
            httpx.AsyncClient(base_url=api.base_url, timeout=30) as http,
        ):
            yield ChatApiStack(
                api=api,
                router=router,
                sim=provider_sim,
                nats=nats_server,
                database_url=database_url,
                http=http,
            )

    return serve


@pytest.fixture
async def stack(stack_with: StackFactory) -> AsyncIterator[ChatApiStack]:
    """chat-api on a real port with the real router, keyvault, NATS and PostgreSQL behind it."""
    async with stack_with() as served:
        yield served
