"""The suite's two tiers, decided here and nowhere else (a pytest plugin, registered by tests/conftest.py).

`unit`: starts no process and opens no database (`make test-unit`, under a minute). In-process
servers on loopback (the provider simulator, a TestClient) are allowed. `integration`: everything
else (`pytest -m integration`). Every collected test gets exactly one of the two markers, from here
only. Every unit test runs under tests/support/unit_guard.py (setup and call, in every run, `make
test` too), so a test that starts a process, opens a database or connects beyond loopback fails
until it is classified here."""

from __future__ import annotations

import platform
from collections.abc import Generator

import pytest

from tests.support.unit_guard import HINT, unit_guard

__all__ = ["HEAVY_FIXTURES", "INTEGRATION_PATHS", "SLOW_PATHS", "integration_reason"]

# Fixtures that start a process or open a database. Anything built on one of them (keyvault,
# router, database, launch_stack, process_stack, stack, chat-api's client, the web fixture, ...)
# has it in its closure, so only the roots are listed.
HEAVY_FIXTURES = frozenset(
    {
        "nats_server",  # a nats-server process
        "postgres_url",  # a database on PostgreSQL
        "migrated_template",  # the migrated template database
        "migrated_postgres_url",
    }
)

# Modules and tests (paths from the repository root; a directory ends in /) whose own code starts a
# process or opens a database, as the guard found. tests/faults, load, leaks and web need no entry:
# their stacks and browsers come from fixtures built on HEAVY_FIXTURES.
INTEGRATION_PATHS = (
    "tests/deploy/test_network_policies.py",  # kubectl kustomize
    "tests/deploy/test_render.py",
    "tests/deploy/test_workloads.py",
    "tests/deploy/test_images.py::test_every_service_image_in_the_manifests_is_one_make_images_builds",
    "tests/deploy/test_images.py::test_make_images_without_a_docker_engine_fails_in_one_clear_line",
    "tests/infra/test_postgres_fixture.py",  # inner pytest runs, nats-server
    "tests/infra/test_embedded_postgres.py",  # initdb and postgres
    "tests/infra/test_devstack.py::test_port_in_use_is_a_clear_message",  # make dev
    "tests/infra/test_devstack.py::test_a_cluster_of_another_version_stops_make_dev_in_one_line",
    "tests/leaks/test_core_dumps.py",  # a service that crashes
    "tests/keyvault/test_process.py",  # python -m keyvault
    "tests/keyvault/test_rotation.py",  # the keys CLI
    "tests/router/test_router_process.py",  # python -m router
    "tests/chat_api/jobs/test_migrate.py",  # python -m chat_api.jobs.migrate
    "tests/chat_api/test_health.py::test_readyz_is_503_when_the_database_is_unreachable",  # psycopg
    "tests/provider_sim/test_simulator.py::test_runs_standalone",
    "tests/test_repository.py::test_generated_protobuf_code_is_fresh",  # protogen --check
    "tests/test_repository.py::test_no_tracked_code_names_the_shared_folder",  # git ls-files
)

# No process and no database, but seconds of CPU each: the unit tier must stay under a minute.
SLOW_PATHS = (
    "tests/keyvault/test_tamper.py::test_every_single_bit_flip_is_refused",  # 3,000+ RSA-OAEP decrypts
    "tests/keyvault/test_nonce_uniqueness.py",  # 65,536 seals
    "tests/provider_sim/test_simulator.py::test_many_concurrent_paced_streams",  # paced for seconds
)


def integration_reason(item: pytest.Item) -> str | None:
    """Why this test is in the integration tier, or None for the unit tier."""
    if item.get_closest_marker("slow") is not None:
        return "marked slow"
    for path in INTEGRATION_PATHS:
        if _under(item.nodeid, path):
            return f"under {path}"
    for path in SLOW_PATHS:
        if _under(item.nodeid, path):
            return f"slow, under {path}"
    heavy = sorted(HEAVY_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if heavy:
        return f"uses {', '.join(heavy)}"
    return None


def _under(nodeid: str, path: str) -> bool:
    if path.endswith("/"):
        return nodeid.startswith(path)
    return nodeid == path or nodeid.startswith((f"{path}::", f"{path}["))


def pytest_configure() -> None:
    # platform.platform() (the openai SDK's request headers) runs `uname -p` once per process and
    # caches the answer: ask it here, before any guard, as it is not the test starting a process.
    platform.platform()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("unit") or item.get_closest_marker("integration"):
            raise pytest.UsageError(f"{item.nodeid}: a test's tier is set in {__name__}, not by a marker")
        tier = pytest.mark.integration if integration_reason(item) else pytest.mark.unit
        item.add_marker(tier)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item, "call"))


# Not teardown: the last test of a run also tears down session fixtures other tests set up.


def _guarded(item: pytest.Item, phase: str) -> Generator[None, object, object]:
    if item.get_closest_marker("unit") is None:
        return (yield)
    with unit_guard() as violations:
        result = yield
    if violations.seen:
        # The code under test caught the refusal (its traceback is gone); fail all the same.
        pytest.fail(f"{phase}: a unit-tier test {violations.seen[0]}; {HINT}", pytrace=False)
    return result
