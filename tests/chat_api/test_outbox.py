"""The outbox relay: events written to the table reach JetStream in order, exactly once per event id,
whether NATS is there at the time or comes back later."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from chat_api.core.services import Services
from chat_api.outbox.models import OutboxEvent
from tests.support.chat_api import ChatApiStack
from tests.support.credentials import eventually, sessions, stream_messages

SUBJECT = "switchyard.credentials.test.v1"


def write_events(stack: ChatApiStack, count: int) -> list[OutboxEvent]:
    """Events as a transaction of chat-api writes them, oldest first."""
    start = datetime.now(UTC)
    rows = [
        OutboxEvent(
            id=uuid.uuid4(),
            subject=SUBJECT,
            payload=f"event {n}".encode(),
            event_id=uuid.uuid4().hex,
            created_at=start + timedelta(milliseconds=n),
            attempts=0,
        )
        for n in range(count)
    ]
    with sessions(stack)() as db_session:
        db_session.add_all(rows)
        db_session.commit()
    return rows


def published_at(stack: ChatApiStack, rows: list[OutboxEvent]) -> list[datetime | None]:
    with sessions(stack)() as db_session:
        found = {
            row.id: row.published_at
            for row in db_session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_([r.id for r in rows])))
        }
    return [found[r.id] for r in rows]


async def all_published(stack: ChatApiStack, rows: list[OutboxEvent]) -> None:
    async def check() -> bool:
        return None not in published_at(stack, rows)

    await eventually(check, what="the relay to publish the outbox")


def relay_of(stack: ChatApiStack) -> Services:
    found: Services = stack.api.app.state.services
    return found


async def test_the_relay_publishes_events_left_in_the_table_in_order(stack: ChatApiStack) -> None:
    """Rows another replica wrote but never published are picked up by the background loop."""
    await eventually(lambda: _connected(stack), what="chat-api to connect to NATS")
    rows = write_events(stack, 5)
    await all_published(stack, rows)
    messages = await stream_messages(stack.nats.url, SUBJECT)
    assert [headers["Nats-Msg-Id"] for headers, _ in messages] == [r.event_id for r in rows]
    assert [data for _, data in messages] == [r.payload for r in rows]


async def test_an_outage_delays_events_and_loses_none(stack: ChatApiStack) -> None:
    services = relay_of(stack)
    await eventually(lambda: _connected(stack), what="chat-api to connect to NATS")
    stack.nats.stop()
    rows = write_events(stack, 3)
    assert await services.relay.publish_now([r.id for r in rows], within=1.0) is False
    assert published_at(stack, rows) == [None, None, None]

    stack.nats.start()
    await all_published(stack, rows)
    messages = await stream_messages(stack.nats.url, SUBJECT)
    assert [headers["Nats-Msg-Id"] for headers, _ in messages] == [r.event_id for r in rows]
    with sessions(stack)() as db_session:
        attempts = db_session.scalars(
            select(OutboxEvent.attempts).where(OutboxEvent.subject == SUBJECT)
        ).all()
    assert all(a >= 1 for a in attempts)


async def test_publish_now_reports_the_acknowledgement(stack: ChatApiStack) -> None:
    services = relay_of(stack)
    await eventually(lambda: _connected(stack), what="chat-api to connect to NATS")
    rows = write_events(stack, 2)
    assert await services.relay.publish_now([r.id for r in rows], within=5.0) is True
    assert None not in published_at(stack, rows)
    assert await services.relay.publish_now([], within=1.0) is True


async def test_a_republished_event_is_stored_once(stack: ChatApiStack) -> None:
    """A publish whose acknowledgement was lost is retried; JetStream de-duplicates by event id."""
    services = relay_of(stack)
    await eventually(lambda: _connected(stack), what="chat-api to connect to NATS")
    [row] = write_events(stack, 1)
    assert await services.relay.publish_now([row.id], within=5.0) is True
    with sessions(stack)() as db_session:
        db_session.execute(update(OutboxEvent).where(OutboxEvent.id == row.id).values(published_at=None))
        db_session.commit()
    assert await services.relay.publish_now([row.id], within=5.0) is True
    assert len(await stream_messages(stack.nats.url, SUBJECT)) == 1


async def _connected(stack: ChatApiStack) -> bool:
    return relay_of(stack).nats.connected
