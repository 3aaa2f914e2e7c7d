"""The embedded PostgreSQL of `make dev` and the tests: its failures are one clear line, and it never
deletes data."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from switchyard_dev.postgres import EmbeddedPostgres, PostgresError, bundled_major_version
from tests.support.ports import free_port


def server(root: Path, port: int | None = None) -> EmbeddedPostgres:
    return EmbeddedPostgres(
        data_dir=root / "data",
        port=port or free_port(),
        log_file=root / "postgres.log",
        port_setting="SWITCHYARD_POSTGRES_PORT",
    )


@pytest.fixture
def initialized(tmp_path: Path) -> EmbeddedPostgres:
    pg = server(tmp_path)
    assert pg.initialize() is True
    return pg


@pytest.fixture
def running(initialized: EmbeddedPostgres) -> Iterator[tuple[EmbeddedPostgres, subprocess.Popen[bytes]]]:
    process = initialized.start()
    try:
        initialized.wait_ready(process)
        yield initialized, process
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def test_a_cluster_is_created_once_and_its_data_survives_a_restart(
    running: tuple[EmbeddedPostgres, subprocess.Popen[bytes]],
) -> None:
    pg, process = running
    pg.ensure_database("switchyard")
    pg.ensure_database("switchyard")  # idempotent
    with psycopg.connect(pg.admin_url("switchyard"), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0

    assert pg.initialize() is False, "an existing cluster is used as it is"
    again = pg.start()
    try:
        pg.wait_ready(again)
        with psycopg.connect(pg.admin_url("switchyard")) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(timeout=20)


def test_a_taken_port_names_the_port_and_its_setting(initialized: EmbeddedPostgres) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", initialized.port))
        blocker.listen()
        process = initialized.start()
        with pytest.raises(PostgresError) as failure:
            initialized.wait_ready(process, timeout=30)
    message = str(failure.value)
    assert f"port {initialized.port} (SWITCHYARD_POSTGRES_PORT) is already in use" in message
    assert "\n" not in message
    assert process.poll() is not None


def test_another_server_on_the_port_is_not_taken_for_ours(
    running: tuple[EmbeddedPostgres, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    first, _ = running
    second = server(tmp_path / "second", port=first.port)
    second.initialize()
    assert not second.ready(), "the first cluster answered as if it were the second"
    process = second.start()
    with pytest.raises(PostgresError, match="is already in use"):
        second.wait_ready(process, timeout=30)


def test_a_cluster_of_another_major_version_is_refused_and_kept(tmp_path: Path) -> None:
    pg = server(tmp_path)
    pg.data_dir.mkdir()
    (pg.data_dir / "PG_VERSION").write_text("15\n")
    (pg.data_dir / "base").mkdir()
    with pytest.raises(PostgresError) as failure:
        pg.initialize()
    message = str(failure.value)
    assert f"{pg.data_dir} holds a PostgreSQL 15 cluster" in message
    assert f"PostgreSQL {bundled_major_version()}" in message
    assert "nothing was deleted" in message
    assert (pg.data_dir / "PG_VERSION").read_text() == "15\n"
    assert (pg.data_dir / "base").is_dir()


def test_a_folder_that_is_no_cluster_is_refused_and_kept(tmp_path: Path) -> None:
    pg = server(tmp_path)
    pg.data_dir.mkdir()
    (pg.data_dir / "notes.txt").write_text("mine")
    with pytest.raises(PostgresError, match="holds no PostgreSQL cluster"):
        pg.initialize()
    assert (pg.data_dir / "notes.txt").read_text() == "mine"


FULL_DISK_SCRIPT = """
import sys
from pathlib import Path
from switchyard_dev.postgres import EmbeddedPostgres, PostgresError
root = Path(sys.argv[1])
pg = EmbeddedPostgres(data_dir=root / "data", port=1, log_file=root / "log")
try:
    pg.initialize()
except PostgresError as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_full_disk_is_one_line_naming_the_folder(tmp_path: Path) -> None:
    """initdb on a 1 MiB tmpfs (mounted in a private mount namespace, so nothing else sees it)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("mounting a tiny tmpfs needs root and unshare")
    disk = tmp_path / "disk"
    disk.mkdir()
    result = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f'mount -t tmpfs -o size=1m tmpfs "{disk}" && exec "$0" -c "$1" "{disk}"',
            sys.executable,
            FULL_DISK_SCRIPT,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(f"initdb could not create a cluster in {disk / 'data'}: ")
    assert "No space left on device" in line
    assert "Traceback" not in result.stderr
