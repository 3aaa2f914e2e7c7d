"""A fresh PostgreSQL database per test run, on the server CI and this machine type provide.

TEST_DATABASE_URL names the server (an admin URL); otherwise 127.0.0.1:5432 is tried. Where
none answers, tests that need it skip on a developer machine and fail in CI (CI=true).

A database migrated to head is a copy of one template migrated once per run (`CREATE DATABASE …
TEMPLATE`, a file copy): running the migrations for each of some 300 tests cost ~0.3 s apiece.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy import URL

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


class PostgresUnavailable(Exception):
    pass


def admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_ADMIN_URL


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
