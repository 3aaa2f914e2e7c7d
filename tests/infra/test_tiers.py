"""The unit tier's guard (tests/support/unit_guard.py) and classification (tests/support/tiers.py).
These are unit-tier tests themselves: each nests a guard inside the one the tier already installs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
from dataclasses import dataclass, field
from typing import cast

import psycopg
import pytest
from sqlalchemy import create_engine

from tests.support import tiers
from tests.support.processes import REPO_ROOT
from tests.support.tiers import INTEGRATION_PATHS, SLOW_PATHS, integration_reason
from tests.support.unit_guard import UnitTierViolation, unit_guard

# Nothing listens on port 1; the guard must refuse before anything is dialled anyway.
UNREACHABLE = "postgresql://nobody:pw@127.0.0.1:1/none?connect_timeout=1"


def test_a_popen_is_refused_and_recorded() -> None:
    with unit_guard() as violations, pytest.raises(UnitTierViolation, match="started a process"):
        subprocess.Popen(["true"])
    assert violations.seen == ["started a process: ['true']"]


def test_a_refusal_the_code_swallows_is_still_recorded() -> None:
    with unit_guard() as violations:
        with contextlib.suppress(Exception):  # what careless code under test might do
            subprocess.run(["true"], check=False)
        with pytest.raises(UnitTierViolation):
            os.system("true")  # noqa: S605 - refused, never run
    assert len(violations.seen) == 2


async def test_an_asyncio_subprocess_is_refused() -> None:
    with unit_guard(), pytest.raises(UnitTierViolation, match="started a process"):
        await asyncio.create_subprocess_exec("true")


def test_a_psycopg_connect_is_refused_before_dialling() -> None:
    with unit_guard() as violations:
        with pytest.raises(UnitTierViolation, match="database"):
            psycopg.connect(UNREACHABLE)
        with pytest.raises(UnitTierViolation, match="database"):
            psycopg.Connection.connect(UNREACHABLE)
    assert len(violations.seen) == 2


async def test_an_async_psycopg_connect_is_refused() -> None:
    with unit_guard(), pytest.raises(UnitTierViolation, match="database"):
        await psycopg.AsyncConnection.connect(UNREACHABLE)


def test_a_sqlalchemy_engine_connect_is_refused() -> None:
    engine = create_engine(UNREACHABLE.replace("postgresql:", "postgresql+psycopg:"))
    try:
        with unit_guard(), pytest.raises(UnitTierViolation, match="database"):
            engine.connect()
    finally:
        engine.dispose()


def test_loopback_is_allowed_and_anything_beyond_is_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, unit_guard() as violations:
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
        with pytest.raises(UnitTierViolation, match="beyond loopback"):
            socket.create_connection(("192.0.2.1", 9), timeout=5)  # TEST-NET-1
    assert len(violations.seen) == 1


def test_everything_is_put_back_when_the_block_ends() -> None:
    before = (
        subprocess.Popen._execute_child,  # type: ignore[attr-defined]
        os.fork,
        psycopg.connect,
        psycopg.Connection.connect,
        socket.socket.connect,
    )
    with unit_guard():
        pass
    after = (
        subprocess.Popen._execute_child,  # type: ignore[attr-defined]
        os.fork,
        psycopg.connect,
        psycopg.Connection.connect,
        socket.socket.connect,
    )
    assert after == before


def test_a_unit_test_runs_under_the_guard(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None
    # The tier's own guard, not the original: a process started here would fail this test.
    assert subprocess.Popen._execute_child.__module__ == "tests.support.unit_guard"  # type: ignore[attr-defined]


@dataclass
class _Item:
    nodeid: str
    fixturenames: list[str] = field(default_factory=list)
    slow: bool = False

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "slow" and self.slow else None


def _reason(**item: object) -> str | None:
    return integration_reason(cast(pytest.Item, _Item(**item)))  # type: ignore[arg-type]


def test_classification() -> None:
    assert _reason(nodeid="tests/common/test_envelope.py::test_x") is None
    assert _reason(nodeid="tests/common/test_envelope.py::test_x", slow=True) == "marked slow"
    module = next(entry for entry in INTEGRATION_PATHS if "::" not in entry)
    assert _reason(nodeid=f"{module}::test_x") == f"under {module}"
    uses = _reason(nodeid="tests/router/test_x.py::test_y", fixturenames=["tmp_path", "nats_server"])
    assert uses == "uses nats_server"
    # A listed test is matched by its name, parameters included, and not by a longer name.
    listed = next(entry for entry in INTEGRATION_PATHS if "::" in entry)
    assert _reason(nodeid=listed) is not None
    assert _reason(nodeid=f"{listed}[x]") is not None
    assert _reason(nodeid=f"{listed}_too") is None


def test_a_directory_entry_covers_everything_under_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiers, "INTEGRATION_PATHS", ("tests/load/",))
    assert _reason(nodeid="tests/load/test_burst.py::test_x") == "under tests/load/"
    assert _reason(nodeid="tests/loader/test_x.py::test_y") is None


@pytest.mark.parametrize("entry", INTEGRATION_PATHS + SLOW_PATHS)
def test_every_listed_path_and_test_still_exists(entry: str) -> None:
    # A stale entry classifies nothing: the moved test falls back to the unit tier, the list rots.
    path, _, name = entry.partition("::")
    assert (REPO_ROOT / path).exists(), f"tests/support/tiers.py lists {path}, which is gone"
    if name:
        source = (REPO_ROOT / path).read_text()
        assert re.search(rf"def {re.escape(name)}\(", source), f"{path} has no test {name}"
