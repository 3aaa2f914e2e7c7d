"""Stored keys seen from behind chat-api's back: rows of its tables, the revocation events JetStream
holds, and a poll with a deadline for what happens in the background."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from chat_api.credentials.models import Credential
from chat_api.outbox.models import OutboxEvent
from switchyard.events.v1 import credentials_pb2
from switchyard_common.events import CREDENTIALS_STREAM, REVOKED_SUBJECT
from tests.support.chat_api import ChatApiStack

__all__ = [
    "VALIDATION",
    "credential_row",
    "eventually",
    "outbox_rows",
    "problem_type",
    "revocation_of",
    "revocations",
    "sessions",
    "set_columns",
    "stream_messages",
    "table_dump",
]

T = TypeVar("T")
VALIDATION = "https://switchyard.dev/problems/validation"


async def eventually(check: Callable[[], Awaitable[T | None]], *, what: str, within: float = 20.0) -> T:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def sessions(stack: ChatApiStack) -> sessionmaker[Session]:
    maker: sessionmaker[Session] = stack.api.app.state.sessions
    return maker


def credential_row(stack: ChatApiStack, key_id: str) -> Credential | None:
    with sessions(stack)() as db_session:
        return db_session.get(Credential, uuid.UUID(key_id))


def set_columns(stack: ChatApiStack, key_id: str, **values: object) -> None:
    """Change a stored key behind the API's back (a crash, the passing of time)."""
    with sessions(stack)() as db_session:
        db_session.execute(update(Credential).where(Credential.id == uuid.UUID(key_id)).values(**values))
        db_session.commit()


def outbox_rows(stack: ChatApiStack) -> list[OutboxEvent]:
    with sessions(stack)() as db_session:
        return list(db_session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at)))


def table_dump(stack: ChatApiStack, table: str) -> str:
    """Every row of `table` as text, the way a database dump would show it (bytea as hex)."""
    with sessions(stack)() as db_session:
        rows = db_session.execute(text(f"SELECT t::text FROM {table} t")).scalars().all()  # noqa: S608
    return "\n".join(rows)


async def stream_messages(nats_url: str, subject: str) -> list[tuple[dict[str, str], bytes]]:
    """Every message JetStream holds on `subject`, oldest first, with its headers."""
    nc = await nats.connect(nats_url)
    try:
        jsm = nc.jetstream()
        info = await jsm.stream_info(CREDENTIALS_STREAM)
        found: list[tuple[dict[str, str], bytes]] = []
        if info.state.messages == 0:
            return found
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await jsm.get_msg(CREDENTIALS_STREAM, seq)
            if message.subject == subject:
                found.append((dict(message.headers or {}), message.data or b""))
        return found
    finally:
        await nc.close()


async def revocations(nats_url: str) -> list[credentials_pb2.CredentialRevoked]:
    return [
        credentials_pb2.CredentialRevoked.FromString(data)
        for _, data in await stream_messages(nats_url, REVOKED_SUBJECT)
    ]


async def revocation_of(stack: ChatApiStack, key_id: str) -> credentials_pb2.CredentialRevoked:
    async def find() -> credentials_pb2.CredentialRevoked | None:
        matching = [e for e in await revocations(stack.nats.url) if e.credential_id == key_id]
        return matching[0] if matching else None

    return await eventually(find, what=f"a CredentialRevoked for {key_id}")


def problem_type(body: dict[str, Any]) -> str:
    return str(body["type"]).rsplit("/", 1)[-1]
