"""The usage writer: completions batched into one transaction, counted against the quota until written."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import cast

import pytest
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from chat_api.accounts.models import User
from chat_api.core.columns import utcnow
from chat_api.core.db import make_engine, make_sessionmaker
from chat_api.credentials.models import Credential
from chat_api.credentials.service import mark_invalid
from chat_api.usage import writer as writer_module
from chat_api.usage.models import QuotaCounter, UsageRecord
from chat_api.usage.service import Completion, period_of
from chat_api.usage.writer import UsageWriter


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _user(sessions: sessionmaker[Session]) -> uuid.UUID:
    with sessions() as db_session:
        user = User(email=f"{uuid.uuid4().hex[:10]}@example.com", password_hash="x", created_at=utcnow())
        db_session.add(user)
        db_session.commit()
        return user.id


def _key(sessions: sessionmaker[Session], owner: uuid.UUID, status: str) -> uuid.UUID:
    with sessions() as db_session:
        key = Credential(
            owner_type="user",
            owner_id=owner,
            provider="openai",
            hint="sk-…abcd",
            envelope=b"e",
            status=status,
        )
        db_session.add(key)
        db_session.commit()
        return key.id


def _completion(
    user_id: uuid.UUID,
    *,
    tokens: int = 10,
    source: str = "platform",
    key: uuid.UUID | None = None,
    ok: bool = True,
) -> Completion:
    return Completion(
        user_id=user_id,
        org_id=None,
        provider="openai",
        model="openai/gpt-5.4-mini",
        key_source=source,
        credential_id=key,
        input_tokens=tokens // 2,
        output_tokens=tokens - tokens // 2,
        cost_usd=Decimal("0.001"),
        latency_ms=5,
        succeeded=ok,
    )


def _rows(sessions: sessionmaker[Session], user_id: uuid.UUID) -> int:
    with sessions() as db_session:
        return int(db_session.scalar(select(func.count()).where(UsageRecord.user_id == user_id)) or 0)


def _quota(sessions: sessionmaker[Session], user_id: uuid.UUID) -> int:
    with sessions() as db_session:
        used = db_session.scalar(
            select(QuotaCounter.platform_tokens).where(
                QuotaCounter.user_id == user_id, QuotaCounter.period == period_of(utcnow())
            )
        )
        return int(used or 0)


def test_a_flush_writes_every_row_and_sums_the_quota_once(sessions: sessionmaker[Session]) -> None:
    alice, bob = _user(sessions), _user(sessions)
    invalid = _key(sessions, bob, "invalid")
    failing = _key(sessions, alice, "invalid")
    writer = UsageWriter(sessions=sessions, interval=60, max_rows=1000)
    for _ in range(3):
        writer.submit(_completion(alice, tokens=10))
    writer.submit(_completion(bob, source="user", key=invalid, ok=False))
    writer.submit(_completion(bob, source="user", key=invalid, ok=True))
    writer.submit(_completion(alice, source="user", key=failing, ok=False))

    # Not written yet, but already spent as far as this replica's quota checks go.
    assert _rows(sessions, alice) == 0
    assert writer.unwritten_platform_tokens(alice) == 30
    assert writer.unwritten_platform_tokens(bob) == 0

    writer.flush()
    assert (_rows(sessions, alice), _rows(sessions, bob)) == (4, 2)
    assert _quota(sessions, alice) == 30
    assert writer.unwritten_platform_tokens(alice) == 0
    with sessions() as db_session:
        worked, broken = db_session.get(Credential, invalid), db_session.get(Credential, failing)
        assert worked is not None
        assert broken is not None
        assert worked.last_used_at is not None
        assert worked.status == "active"
        assert broken.last_used_at is not None
        assert broken.status == "invalid"

    writer.submit(_completion(alice, tokens=4))
    writer.flush()
    assert _quota(sessions, alice) == 34


def test_a_success_that_started_before_a_rejection_does_not_reactivate_the_key(
    sessions: sessionmaker[Session],
) -> None:
    # A chat through the key worked, then a later chat was rejected (401) and the key was marked
    # invalid; the batched usage row of the earlier success lands only after that verdict.
    bob = _user(sessions)
    key = _key(sessions, bob, "active")
    writer = UsageWriter(sessions=sessions, interval=60, max_rows=1000)
    writer.submit(_completion(bob, source="user", key=key, ok=True))
    with sessions() as db_session:
        assert mark_invalid(db_session=db_session, credential_id=key)
    writer.flush()
    with sessions() as db_session:
        row = db_session.get(Credential, key)
        assert row is not None
        assert row.status == "invalid"
        assert row.last_used_at is not None

    # A call that started after the verdict and worked does show the key works again.
    time.sleep(0.02)  # its start (end - latency, 5 ms) comes after the verdict on the wall clock
    writer.submit(_completion(bob, source="user", key=key, ok=True))
    writer.flush()
    with sessions() as db_session:
        row = db_session.get(Credential, key)
        assert row is not None
        assert row.status == "active"


def test_a_row_that_cannot_be_written_is_dropped_alone(sessions: sessionmaker[Session]) -> None:
    alice, nobody = _user(sessions), uuid.uuid4()  # usage of an unknown user breaks its foreign key
    writer = UsageWriter(sessions=sessions, interval=60, max_rows=1000)
    writer.submit(_completion(nobody, tokens=7))
    writer.submit(_completion(alice, tokens=5))
    writer.flush()
    assert _rows(sessions, alice) == 1
    assert _quota(sessions, alice) == 5
    assert writer.unwritten_platform_tokens(nobody) == 0


class Outage:
    """Sessions from a database that is unreachable while `down`."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions, self.down = sessions, True

    def __call__(self) -> Session:
        if self.down:
            raise OperationalError("connect", {}, ConnectionRefusedError("database down"))
        return self.sessions()


def test_a_batch_is_kept_while_the_database_is_down_and_written_when_it_is_back(
    sessions: sessionmaker[Session],
) -> None:
    alice, outage = _user(sessions), Outage(sessions)
    writer = UsageWriter(sessions=cast(sessionmaker[Session], outage), interval=60, max_rows=1000)
    writer.submit(_completion(alice, tokens=7))
    for _ in range(20):
        writer.flush()
        assert writer.unwritten_platform_tokens(alice) == 7  # still spent, still to be written
    outage.down = False
    writer.flush()
    assert writer.unwritten_platform_tokens(alice) == 0
    assert _rows(sessions, alice) == 1
    assert _quota(sessions, alice) == 7


def test_an_endless_outage_keeps_only_the_newest_rows(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "MAX_BACKLOG_ROWS", 2)
    missing = make_url(database_url).set(database="no_such_database")
    down = make_engine(missing.render_as_string(hide_password=False))
    writer = UsageWriter(sessions=make_sessionmaker(down), interval=60, max_rows=1000)
    user = uuid.uuid4()
    for tokens in (1, 2, 4):
        writer.submit(_completion(user, tokens=tokens))
    writer.flush()
    assert writer.unwritten_platform_tokens(user) == 6  # the oldest (1 token) was dropped
    down.dispose()


async def test_the_background_task_writes_and_stop_flushes(sessions: sessionmaker[Session]) -> None:
    alice = _user(sessions)
    writer = UsageWriter(sessions=sessions, interval=0.05, max_rows=2)
    writer.start()
    try:
        writer.submit(_completion(alice))
        for _ in range(200):
            if _rows(sessions, alice) == 1:
                break
            await asyncio.sleep(0.05)
        assert _rows(sessions, alice) == 1
    finally:
        await writer.stop()

    slow = UsageWriter(sessions=sessions, interval=3600, max_rows=1000)
    slow.start()
    slow.submit(_completion(alice))
    await slow.stop()
    assert _rows(sessions, alice) == 2
