"""The test infrastructure itself: the `postgres_url` fixture and the restartable NatsServer.

Tests elsewhere trust these to isolate them (a fresh database each), to fail loudly in CI when
PostgreSQL is missing rather than skip, and to model a NATS restart faithfully (same port, same
JetStream store).
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import textwrap
from pathlib import Path

import nats
import psycopg
import pytest

from switchyard.events.v1 import credentials_pb2
from switchyard_common.events import CREDENTIALS_STREAM, ensure_credentials_stream, publish_revocation
from switchyard_dev.postgres import bundled_major_version
from tests.support.make_dev import processes_mentioning
from tests.support.nats_server import NatsServer
from tests.support.ports import free_port
from tests.support.postgres import admin_url, external_server, fresh_database, server_log
from tests.support.processes import REPO_ROOT, run_python

USER_TABLES = """
    SELECT table_schema, table_name FROM information_schema.tables
    WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
"""

_databases_seen: list[str] = []


def database_exists(name: str) -> bool:
    with psycopg.connect(admin_url(), autocommit=True, connect_timeout=3) as admin:
        row = admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert row is not None
    return bool(row[0])


def current_database(url: str) -> str:
    with psycopg.connect(url, connect_timeout=3) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def test_fresh_database_is_empty(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, connect_timeout=3) as conn:
        assert conn.execute(USER_TABLES).fetchall() == []
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None
    assert name[0].startswith("switchyard_test_")
    assert database_exists(name[0])


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_its_own_database(postgres_url: str, run: int) -> None:
    name = current_database(postgres_url)
    assert name not in _databases_seen
    _databases_seen.append(name)


def test_fresh_database_is_writable(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, connect_timeout=3) as conn:
        conn.execute("CREATE TABLE credentials (id text PRIMARY KEY, envelope bytea NOT NULL)")
        conn.execute("INSERT INTO credentials VALUES (%s, %s)", ("cred-1", b"\x00\x01"))
        conn.commit()
    with psycopg.connect(postgres_url, connect_timeout=3) as conn:
        assert conn.execute("SELECT id, envelope FROM credentials").fetchall() == [("cred-1", b"\x00\x01")]
        assert conn.execute(USER_TABLES).fetchall() == [("public", "credentials")]


def test_databases_are_distinct_and_dropped_afterwards(postgres_url: str) -> None:
    outer = current_database(postgres_url)
    with fresh_database() as inner_url:
        inner = current_database(inner_url)
        assert inner != outer
        # What one test writes, another never sees.
        with psycopg.connect(inner_url, connect_timeout=3) as conn:
            conn.execute("CREATE TABLE leftover (x int)")
        with psycopg.connect(postgres_url, connect_timeout=3) as conn:
            assert conn.execute(USER_TABLES).fetchall() == []
        assert database_exists(inner)
    assert not database_exists(inner)
    assert database_exists(outer)


INNER_TEST = """
    from pathlib import Path

    import psycopg


    def test_uses_postgres(postgres_url):
        with psycopg.connect(postgres_url) as conn:
            name = conn.execute("SELECT current_database()").fetchone()[0]
            conn.execute("CREATE TABLE t (x int)")
        Path({record!r}).write_text(name)
"""


def run_inner_pytest(tmp_path: Path, env_changes: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    """Run a one-test pytest session that uses the repository's conftest fixtures."""
    test_file = tmp_path / "test_inner_postgres.py"
    record = tmp_path / "database-name.txt"
    test_file.write_text(textwrap.dedent(INNER_TEST.format(record=str(record))))
    env = dict(os.environ)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return run_python(
        "-m",
        "pytest",
        "-q",
        "-rA",
        "-p",
        "tests.conftest",
        "--rootdir",
        str(REPO_ROOT),
        "-c",
        str(REPO_ROOT / "pyproject.toml"),
        str(test_file),
        env=env,
        cwd=REPO_ROOT,
        timeout=60,
    )


def closed_port_url() -> str:
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "expected nothing listening"
    return f"postgresql://postgres@127.0.0.1:{port}/test"


def test_fixture_database_is_dropped_after_the_test(postgres_url: str, tmp_path: Path) -> None:
    # The inner run uses this run's server, so that its database can be looked for here afterwards.
    result = run_inner_pytest(tmp_path, {"TEST_DATABASE_URL": admin_url()})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    name = (tmp_path / "database-name.txt").read_text()
    assert name.startswith("switchyard_test_")
    assert not database_exists(name)


def test_without_test_database_url_the_run_has_its_own_embedded_server(postgres_url: str) -> None:
    if external_server():
        pytest.skip("TEST_DATABASE_URL names an external server for this run")
    with psycopg.connect(postgres_url, connect_timeout=3) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        data_directory = conn.execute("SHOW data_directory").fetchone()
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()
    assert version is not None
    assert version[0].split(".")[0] == bundled_major_version()
    assert data_directory is not None
    assert Path(data_directory[0]).is_relative_to(Path(tempfile.gettempdir()))
    assert "switchyard-test-postgres-" in data_directory[0], "not this run's throwaway cluster"
    assert sockets == ("",), "the embedded server listens on loopback TCP only"
    log = server_log()
    assert log is not None
    assert log.is_file()


def running_test_servers() -> set[int]:
    """Processes of the embedded servers the tests start (their data folders say so)."""
    return {proc.pid for proc in processes_mentioning("switchyard-test-postgres-")}


def test_inner_run_without_test_database_url_starts_and_removes_its_own_server(tmp_path: Path) -> None:
    servers_before = running_test_servers()
    result = run_inner_pytest(tmp_path, {"TEST_DATABASE_URL": None, "CI": "true"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert not running_test_servers() - servers_before, "the inner run's PostgreSQL outlived it"


def test_unreachable_postgres_fails_in_ci(tmp_path: Path) -> None:
    result = run_inner_pytest(tmp_path, {"CI": "true", "TEST_DATABASE_URL": closed_port_url()})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "skipped" not in result.stdout
    assert "1 error" in result.stdout
    assert "CI requires PostgreSQL" in result.stdout
    assert not (tmp_path / "database-name.txt").exists()


def test_unreachable_postgres_skips_outside_ci(tmp_path: Path) -> None:
    result = run_inner_pytest(tmp_path, {"CI": None, "TEST_DATABASE_URL": closed_port_url()})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "unreachable" in result.stdout
    assert not (tmp_path / "database-name.txt").exists()


async def test_nats_server_restarts_on_same_port_keeping_jetstream_data(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        port = server.port
        event = credentials_pb2.CredentialRevoked(event_id="evt-1", credential_id="cred-kept-across-restart")
        nc = await nats.connect(server.url, connect_timeout=2, allow_reconnect=False)
        try:
            js = nc.jetstream()
            await ensure_credentials_stream(js, retention_days=1)
            seq = await publish_revocation(js, event)
        finally:
            await nc.close()

        server.stop()
        assert not server.running
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "nats-server still listening after stop"

        server.start()
        assert server.running
        assert server.port == port
        nc = await nats.connect(server.url, connect_timeout=2, allow_reconnect=False)
        try:
            js = nc.jetstream()
            info = await js.stream_info(CREDENTIALS_STREAM)
            assert info.state.messages == 1
            stored = await js.get_msg(CREDENTIALS_STREAM, seq)
            assert credentials_pb2.CredentialRevoked.FromString(stored.data).credential_id == (
                "cred-kept-across-restart"
            )
        finally:
            await nc.close()
    finally:
        server.stop()
