"""The whole stack as processes for `make bench-revocation`: the router stack (bench/router_stack.py)
with one chat-api on router 1, and a PostgreSQL database made for the run and dropped after it, on
the embedded server `make dev` runs (started for the run) unless an admin URL names another.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from processes import BIN, BenchError, Processes, http_ok, wait_until
from procstats import free_port  # bench/ is on sys.path: it is the script's folder
from psycopg import sql
from router_stack import RouterStack, service_env, start_routers, start_services, tls_env

from switchyard_dev.postgres import THROWAWAY_SETTINGS, EmbeddedPostgres, PostgresError

__all__ = ["ChatApi", "bench_database", "database_server", "start_fanout_stack"]


@dataclass(frozen=True)
class ChatApi:
    url: str
    log: Path
    conninfo: str  # libpq form of chat-api's database, to read a stored envelope


@contextlib.contextmanager
def database_server(admin_url: str | None, work: Path) -> Iterator[str]:
    """`admin_url`, or else an embedded PostgreSQL's in `work` for the run (stopped afterwards)."""
    if admin_url:
        yield admin_url
        return
    server = EmbeddedPostgres(
        data_dir=work / "postgres",
        port=free_port(),
        log_file=work / "postgres.log",
        settings=THROWAWAY_SETTINGS,
    )
    try:
        server.initialize()
        process = server.start()
        server.wait_ready(process)
    except PostgresError as exc:
        raise BenchError(str(exc)) from exc
    try:
        yield server.admin_url()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


@contextlib.contextmanager
def bench_database(admin_url: str) -> Iterator[tuple[str, str]]:
    """A new database on the admin URL's server: (libpq conninfo, SQLAlchemy URL); dropped after."""
    name = f"switchyard_bench_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        raise BenchError(f"PostgreSQL at {admin_url!r} is unreachable: {exc}") from exc
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = name
    conninfo = psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})
    user, host, port = (
        info.get("user") or "postgres",
        info.get("host") or "127.0.0.1",
        info.get("port") or 5432,
    )
    password = f":{info['password']}" if info.get("password") else ""
    url = f"postgresql+psycopg://{user}{password}@{host}:{port}/{name}"
    try:
        yield conninfo, url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def start_fanout_stack(
    procs: Processes, work: Path, *, routers: int, bits: int, database_url: str, conninfo: str
) -> tuple[RouterStack, ChatApi]:
    """Start everything and wait until each service says it is ready (routers: feed caught up)."""
    stack = start_services(procs, work, bits=bits)
    start_routers(procs, stack, routers)
    port = free_port()
    chat_api = ChatApi(url=f"http://127.0.0.1:{port}", log=work / "chat-api.log", conninfo=conninfo)
    with chat_api.log.open("wb") as chat_api_out:
        child = procs.start(
            "chat-api",
            [str(BIN / "python"), "-m", "chat_api"],
            env=service_env(
                CHAT_API_HOST="127.0.0.1",
                CHAT_API_PORT=str(port),
                CHAT_API_DATABASE_URL=database_url,
                CHAT_API_MIGRATE_ON_START="true",
                CHAT_API_ROUTER_ADDRESS=f"localhost:{stack.router_ports[0]}",
                CHAT_API_NATS_URL=stack.nats_url,
                **tls_env("CHAT_API", stack.pki, "chat-api"),
                CHAT_API_SHUTDOWN_GRACE_SECONDS="0",
                # One bench user adds, verifies and chats far faster than the per-user limits allow.
                CHAT_API_CHAT_RATE_PER_MINUTE="0",
                CHAT_API_KEY_CHECK_RATE_PER_MINUTE="0",
                CHAT_API_LOG_LEVEL="WARNING",
            ),
            stdout=chat_api_out,
            stderr=subprocess.STDOUT,
        )
    wait_until("chat-api", lambda: http_ok(f"{chat_api.url}/readyz"), child, timeout=90, log=chat_api.log)
    stack.pids["chat-api"] = child.pid
    return stack, chat_api
