"""Fixtures with real components: a CA, nats-server processes, PostgreSQL, keyvault and router servers,
and the provider simulator."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from grpc import aio

from chat_api.core.migrations import upgrade_head
from keyvault.keys import generate_key
from keyvault.server import KeyVaultServer
from router.server import RouterServer
from switchyard_common.envelope import Binding
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import (
    CALL_TIMEOUT,
    KeyVaultClient,
    TestPki,
    dial,
    keyvault_settings,
    make_pki,
    serving,
)
from tests.support.nats_server import NatsServer
from tests.support.postgres import PostgresUnavailable, database_name, fresh_database, sqlalchemy_url
from tests.support.router import RunningRouter, router_settings
from tests.support.teardown import bounded

# The process-stack fixtures (database, launch_stack, process_stack) of tests/faults, load and leaks;
# the unit/integration tiers (`make test-unit`).
pytest_plugins = ["tests.support.process_fixtures", "tests.support.tiers"]


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def shared_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One RSA-3072 key (kid 1), made once: generating keys is the slow part of setup."""
    directory = tmp_path_factory.mktemp("keys")
    generate_key(directory, bits=3072)
    return directory


@pytest.fixture
def keys_dir(shared_keys_dir: Path, tmp_path: Path) -> Path:
    """A private copy, so a test may add keys without affecting others."""
    directory = tmp_path / "keys"
    shutil.copytree(shared_keys_dir, directory)
    return directory


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@dataclass
class RunningKeyVault:
    server: KeyVaultServer
    audit_path: Path
    pki: TestPki

    @property
    def port(self) -> int:
        return self.server.port

    def channel(self, identity: str) -> aio.Channel:
        return dial(self.port, self.pki.files[identity])

    def client(
        self,
        *,
        binding: Binding | None = None,
        secret: bytes | None = None,
        timeout: float | None = CALL_TIMEOUT,
    ) -> KeyVaultClient:
        return KeyVaultClient(self.port, self.pki, binding=binding, secret=secret, timeout=timeout)


@pytest.fixture
async def keyvault(
    test_pki: TestPki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[RunningKeyVault]:
    audit_path = tmp_path / "audit.jsonl"
    settings = keyvault_settings(
        pki_=test_pki, keys_dir=keys_dir, nats_url=nats_server.url, audit_path=audit_path
    )
    async with serving(settings) as server:
        yield RunningKeyVault(server=server, audit_path=audit_path, pki=test_pki)


@contextlib.contextmanager
def _database_or_skip(*, template: str | None = None) -> Iterator[str]:
    try:
        with fresh_database(template=template) as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires PostgreSQL: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test; dropped afterwards."""
    with _database_or_skip() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[str]:
    """The name of a database migrated to head once per run, which `migrated_postgres_url` copies."""
    with _database_or_skip() as url:
        upgrade_head(sqlalchemy_url(url))
        yield database_name(url)


@pytest.fixture
def migrated_postgres_url(migrated_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database already migrated to head (chat-api's schema); dropped afterwards."""
    with _database_or_skip(template=migrated_template) as url:
        yield url


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
