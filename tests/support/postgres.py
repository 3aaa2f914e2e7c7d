"""A fresh PostgreSQL database per test run, on the server CI and this machine type provide.

TEST_DATABASE_URL names the server (an admin URL); otherwise 127.0.0.1:5432 is tried. Where
none answers, tests that need it skip on a developer machine and fail in CI (CI=true).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


class PostgresUnavailable(Exception):
    pass


def admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_ADMIN_URL


def _with_database(url: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database, yield its connection string, drop it afterwards."""
    url = admin_url()
    name = f"switchyard_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(f"PostgreSQL at {url!r} is unreachable: {exc}") from exc
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
