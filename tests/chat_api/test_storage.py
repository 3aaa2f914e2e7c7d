"""Secrets at rest: tokens only as SHA-256 digests, passwords only as argon2id hashes."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

PASSWORD = "a canary password 7f3c"


def dump_every_table(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = [
                repr(row)
                for table in inspect(connection).get_table_names()
                for row in connection.execute(text(f'SELECT * FROM "{table}"'))  # noqa: S608 - our own names
            ]
    finally:
        engine.dispose()
    return "\n".join(rows)


def test_raw_token_and_password_are_stored_nowhere(client: TestClient, database_url: str) -> None:
    body = client.post("/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD}).json()
    login = client.post("/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}).json()
    dump = dump_every_table(database_url)
    for token in (body["access_token"], login["access_token"]):
        assert token not in dump
        assert repr(token.encode()) not in dump
        assert repr(hashlib.sha256(token.encode()).digest()) in dump
    assert PASSWORD not in dump


def test_password_is_an_argon2id_hash(client: TestClient, database_url: str) -> None:
    client.post("/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM users")).scalar_one()
    engine.dispose()
    assert stored.startswith("$argon2id$")
