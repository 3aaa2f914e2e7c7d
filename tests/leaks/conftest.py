"""The leak sweep runs the stack as real processes (see tests/support/process_stack.py) on a freshly
migrated PostgreSQL database, so that what it searches is what the services really wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_api.core.migrations import upgrade_head
from tests.chat_api.conftest import sqlalchemy_url
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.support.process_stack import ProcessStack, running_process_stack
from tests.support.provider_sim import ProviderSimulator


@pytest.fixture
def database_conninfo(postgres_url: str) -> str:
    """A fresh database, migrated to head; its libpq form (chat-api is given the SQLAlchemy URL)."""
    upgrade_head(sqlalchemy_url(postgres_url))
    return postgres_url


@pytest.fixture
async def process_stack(
    test_pki: TestPki,
    keys_dir: Path,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
    database_conninfo: str,
    tmp_path: Path,
) -> AsyncIterator[ProcessStack]:
    """keyvault, router and chat-api as processes; their logs and keyvault's audit in tmp_path/stack."""
    async with running_process_stack(
        pki=test_pki,
        keys_dir=keys_dir,
        nats=nats_server,
        sim=provider_sim,
        database_url=sqlalchemy_url(database_conninfo),
        conninfo=database_conninfo,
        work_dir=tmp_path / "stack",
    ) as stack:
        yield stack
