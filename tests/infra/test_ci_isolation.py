"""CI runs the suite where the machine's own servers cannot be reached (.ci/run): proven here, in that run."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# The servers this machine type runs before a session, and where a test might reach them anyway.
MACHINE_SERVICES = {"PostgreSQL": 5432, "NATS": 4222, "Redis": 6379, "RabbitMQ": 5672, "MariaDB": 3306}
MACHINE_SOCKETS = [Path("/run/postgresql/.s.PGSQL.5432"), Path("/var/run/postgresql/.s.PGSQL.5432")]

pytestmark = pytest.mark.skipif(
    os.environ.get("SWITCHYARD_CI_ISOLATED") != "1", reason="only in .ci/run's isolated namespaces"
)


@pytest.mark.parametrize(("name", "port"), sorted(MACHINE_SERVICES.items()))
def test_the_machines_own_server_is_out_of_reach(name: str, port: int) -> None:
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"{name} on 127.0.0.1:{port} is reachable"


def test_no_unix_socket_of_the_machines_postgresql() -> None:
    assert [path for path in MACHINE_SOCKETS if path.exists()] == []
