"""Fixtures for suites that run the stack as real processes (tests/faults, tests/load, tests/leaks;
see tests/support/process_stack.py), on a freshly migrated PostgreSQL database. Registered for the
whole suite by tests/conftest.py (`pytest_plugins`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url

from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import TestPki
from tests.support.load import raise_open_files_limit
from tests.support.nats_server import NatsServer
from tests.support.postgres import sqlalchemy_url
from tests.support.process_stack import ProcessStack, running_process_stack

__all__ = ["Database", "LaunchStack", "database", "launch_stack", "process_stack"]


@dataclass(frozen=True)
class Database:
    conninfo: str  # libpq form, for reading rows directly
    url: str  # what chat-api is given

    @property
    def host_and_port(self) -> tuple[str, int]:
        parsed = make_url(self.url)
        return str(parsed.host), int(parsed.port or 5432)


LaunchStack = Callable[..., AbstractAsyncContextManager[ProcessStack]]


@pytest.fixture
def database(migrated_postgres_url: str) -> Database:
    return Database(conninfo=migrated_postgres_url, url=sqlalchemy_url(migrated_postgres_url))


@pytest.fixture
def launch_stack(
    test_pki: TestPki,
    keys_dir: Path,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
    database: Database,
    tmp_path: Path,
) -> LaunchStack:
    """`async with launch_stack(router_settings={...}, chat_api_settings={...}, database_url=...)`;
    the services' logs and keyvault's audit go to tmp_path/stack."""
    # Many open streams hold a socket each in chat-api, in the router, and twice that in this
    # process (clients and simulator); the services inherit the raised limit when they are spawned.
    raise_open_files_limit()

    def launch(
        *,
        router_settings: dict[str, object] | None = None,
        chat_api_settings: dict[str, object] | None = None,
        database_url: str | None = None,
    ) -> AbstractAsyncContextManager[ProcessStack]:
        return running_process_stack(
            pki=test_pki,
            keys_dir=keys_dir,
            nats=nats_server,
            sim=provider_sim,
            database_url=database_url or database.url,
            conninfo=database.conninfo,
            work_dir=tmp_path / "stack",
            router_settings=router_settings,
            chat_api_settings=chat_api_settings,
        )

    return launch


@pytest.fixture
async def process_stack(launch_stack: LaunchStack) -> AsyncIterator[ProcessStack]:
    """The stack on default settings."""
    async with launch_stack() as stack:
        yield stack
