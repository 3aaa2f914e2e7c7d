"""DELETE of a key: the row goes, a CredentialRevoked goes out through the outbox (even across a NATS
outage), and the DELETE waits for requests that already read the key."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import anyio.to_thread
from sqlalchemy import text

from chat_api.core.services import Services
from chat_api.credentials.leases import CredentialLease, lease_credentials
from switchyard.events.v1 import credentials_pb2
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.events import REVOKED_SUBJECT
from tests.chat_api.conftest import StackFactory
from tests.support.chat_api import ChatApiStack
from tests.support.credentials import (
    credential_row,
    eventually,
    outbox_rows,
    revocation_of,
    sessions,
    set_columns,
    stream_messages,
)


async def delete_waiting_on_a_lock(stack: ChatApiStack) -> bool:
    """Some session of this database runs a DELETE FROM credentials, waiting on a lock another
    session holds (what PostgreSQL itself says, not a guess from how long it has been running)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        " AND query ILIKE 'DELETE FROM credentials%' AND cardinality(pg_blocking_pids(pid)) > 0"
    )

    def count() -> int:
        with sessions(stack)() as db_session:
            return int(db_session.execute(query).scalar_one())

    return await anyio.to_thread.run_sync(count) == 1


def services(stack: ChatApiStack) -> Services:
    found: Services = stack.api.app.state.services
    return found


async def lease_anthropic(stack: ChatApiStack, user_id: str) -> CredentialLease:
    """What a chat request for Anthropic holds from reading its keys until the provider call starts."""
    app_services = services(stack)
    return await anyio.to_thread.run_sync(
        lambda: lease_credentials(
            sessions=app_services.sessions,
            user_id=uuid.UUID(user_id),
            org_id=None,
            provider="anthropic",
        )
    )


async def test_delete_removes_the_key_and_publishes_its_revocation(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "openai")

    response = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert credential_row(stack, key["id"]) is None
    assert (await stack.http.get("/v1/keys", headers=user.headers)).json() == []
    assert (await stack.http.get(f"/v1/keys/{key['id']}", headers=user.headers)).status_code == 404

    [row] = outbox_rows(stack)
    assert row.subject == REVOKED_SUBJECT
    assert row.published_at is not None  # the DELETE's own attempt got through
    assert row.attempts == 1
    event = credentials_pb2.CredentialRevoked.FromString(row.payload)
    assert event.event_id == row.event_id
    assert (event.credential_id, event.owner_id, event.provider) == (key["id"], user.id, "openai")
    assert event.owner_type == keyvault_pb2.OWNER_TYPE_USER
    assert event.reason == "deleted by owner"
    assert event.HasField("revoked_at")

    [(headers, data)] = await stream_messages(stack.nats.url, REVOKED_SUBJECT)
    assert headers["Nats-Msg-Id"] == row.event_id
    assert data == row.payload

    again = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
    assert again.status_code == 404
    assert len(outbox_rows(stack)) == 1


async def test_delete_while_nats_is_down_is_published_once_nats_is_back(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "groq")
    stack.nats.stop()

    response = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
    assert response.status_code == 204
    assert credential_row(stack, key["id"]) is None
    [row] = outbox_rows(stack)
    assert row.published_at is None

    stack.nats.start()

    async def published() -> bool:
        return all(r.published_at is not None for r in outbox_rows(stack))

    await eventually(published, what="the outbox relay to publish after the outage")
    event = await revocation_of(stack, key["id"])
    assert event.event_id == row.event_id
    assert len(await stream_messages(stack.nats.url, REVOKED_SUBJECT)) == 1


async def test_delete_finishes_a_half_revoked_key(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "xai")
    set_columns(stack, key["id"], revoking_at=datetime.now(UTC))
    assert (await stack.http.get(f"/v1/keys/{key['id']}", headers=user.headers)).status_code == 404

    response = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
    assert response.status_code == 204
    assert credential_row(stack, key["id"]) is None
    assert (await revocation_of(stack, key["id"])).reason == "deleted by owner"


async def test_delete_waits_for_a_request_that_already_read_the_key(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "anthropic")
    lease = await lease_anthropic(stack, user.id)
    assert [str(c.id) for c in lease.credentials] == [key["id"]]

    deleting = asyncio.create_task(stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers))

    async def marked() -> bool:
        row = credential_row(stack, key["id"])
        return row is not None and row.revoking_at is not None

    await eventually(marked, what="the DELETE to mark the key")
    # From the mark on, a new request no longer sees the key ...
    later = await lease_anthropic(stack, user.id)
    assert later.credentials == ()
    later.release()
    # ... but the one that read it before still holds it: the DELETE waits for its row lock.
    await eventually(lambda: delete_waiting_on_a_lock(stack), what="the DELETE to wait on the lease's lock")
    assert not deleting.done()
    assert credential_row(stack, key["id"]) is not None
    assert outbox_rows(stack) == []

    await anyio.to_thread.run_sync(lease.release)
    response = await deleting
    assert response.status_code == 204
    assert credential_row(stack, key["id"]) is None
    await revocation_of(stack, key["id"])


async def test_a_delete_that_waits_too_long_answers_503_and_a_retry_finishes_it(
    stack_with: StackFactory,
) -> None:
    async with stack_with(revocation_wait_seconds=1) as stack:
        user = await stack.register()
        key = await stack.add_key(user, "anthropic")
        lease = await lease_anthropic(stack, user.id)
        try:
            response = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
            assert response.status_code == 503, response.text
            assert response.json()["type"].endswith("/unavailable")
            assert response.headers["retry-after"] == "5"
            # Not removed, but hidden and unusable: no new request reads it.
            row = credential_row(stack, key["id"])
            assert row is not None
            assert row.revoking_at is not None
            assert outbox_rows(stack) == []
            later = await lease_anthropic(stack, user.id)
            assert later.credentials == ()
            later.release()
        finally:
            await anyio.to_thread.run_sync(lease.release)
        retried = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
        assert retried.status_code == 204
        assert credential_row(stack, key["id"]) is None
        await revocation_of(stack, key["id"])
