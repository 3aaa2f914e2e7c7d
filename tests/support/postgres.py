"""A fresh PostgreSQL database per test, on a server of the run's own.

Without TEST_DATABASE_URL each pytest process (each xdist worker) starts its own embedded server,
the one `make dev` runs (switchyard_dev.postgres), on a free loopback port with a throwaway cluster
that goes when the process ends: no test needs a server the machine happens to run.
TEST_DATABASE_URL names an external server instead (an admin URL); where that one does not
answer, tests that need it skip on a developer machine and fail in CI (CI=true).

A database migrated to head is a copy of one template migrated once per run (`CREATE DATABASE …
TEMPLATE`, a file copy): running the migrations for each of some 300 tests cost ~0.3 s apiece.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import URL

from switchyard_dev.postgres import THROWAWAY_SETTINGS, EmbeddedPostgres, PostgresError
from tests.support.ports import free_port

# A port picked free can be taken before the server binds it; another port is tried then.
START_ATTEMPTS = 3


class PostgresUnavailable(Exception):
    pass


class _RunServer:
    """This process's embedded server, started on first use and stopped (and deleted) at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: EmbeddedPostgres | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._root: Path | None = None

    def get(self) -> EmbeddedPostgres:
        with self._lock:
            if self._server is None:
                self._server = self._start()
                atexit.register(self.stop)
            return self._server

    def _start(self) -> EmbeddedPostgres:
        # /tmp rather than pytest's tmp_path: the cluster lives as long as the process, not a test.
        self._root = Path(tempfile.mkdtemp(prefix="switchyard-test-postgres-"))
        for attempt in range(START_ATTEMPTS):
            server = EmbeddedPostgres(
                data_dir=self._root / "data",
                port=free_port(),
                log_file=self._root / "postgres.log",
                settings=THROWAWAY_SETTINGS,
            )
            server.initialize()
            process = server.start()
            try:
                server.wait_ready(process)
            except PostgresError:
                process.kill()
                process.wait()
                if attempt + 1 == START_ATTEMPTS:
                    raise
                continue
            self._process = process
            return server
        raise AssertionError("unreachable")

    def stop(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                self._process.send_signal(signal.SIGINT)  # fast shutdown
                try:
                    self._process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
            self._server = self._process = self._root = None


_run_server = _RunServer()


def external_server() -> bool:
    """True when TEST_DATABASE_URL names a server outside the run."""
    return bool(os.environ.get("TEST_DATABASE_URL"))


def admin_url() -> str:
    """An admin (superuser) URL of the run's server, started here if it has not been yet."""
    if external_server():
        return os.environ["TEST_DATABASE_URL"]
    return _run_server.get().admin_url()


def server_log() -> Path | None:
    """The run's embedded server's log file (every statement it was told to log); None if external."""
    return None if external_server() else _run_server.get().log_file


def _with_database(url: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


def sqlalchemy_url(conninfo: str) -> str:
    """The `postgresql+psycopg://` URL for a libpq connection string."""
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    port = info.get("port")
    return URL.create(
        "postgresql+psycopg",
        username=str(info["user"]) if info.get("user") else None,
        password=str(info["password"]) if info.get("password") else None,
        host=str(info.get("host") or "127.0.0.1"),
        port=int(str(port)) if port else None,
        database=str(info["dbname"]),
    ).render_as_string(hide_password=False)


def database_name(conninfo: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"])


@contextmanager
def fresh_database(*, template: str | None = None) -> Iterator[str]:
    """Create a database (empty, or a copy of `template`), yield its connection string, drop it."""
    url = admin_url()
    name = f"switchyard_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(f"PostgreSQL at {url!r} is unreachable: {exc}") from exc
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
    with admin:
        admin.execute(create)
    try:
        yield _with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
