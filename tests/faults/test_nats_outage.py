"""Fault: nats-server stopped under load, and started again on the same port.

Chats keep working meanwhile (platform access and bring-your-own-key); the router flushes its key
cache and asks keyvault for every BYOK request while it is cut off; a key DELETE during the outage
answers 204, no provider call with that key starts after it returned, and its revocation waits in
the outbox and reaches keyvault once NATS is back; then everything resumes by itself: chat-api is
ready again and the router's revocation feed catches up and caches keys again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from grpc import aio

from switchyard.events.v1 import credentials_pb2
from switchyard_common.envelope import Binding, OwnerType
from tests.support.chat_api import User, provider_key
from tests.support.keyvault import UNIFORM, KeyVaultClient, status_of
from tests.support.process_stack import ProcessStack
from tests.support.service_processes import eventually

pytestmark = pytest.mark.slow  # each starts the whole stack as processes

PLATFORM_MODEL = "openai/gpt-5.4-mini"  # the revoked key's provider too: after its DELETE, platform answers
BYOK_MODEL = "mistral/mistral-large-latest"  # no platform key: only the user's own key serves it
FEED_INTERRUPTED = "revocation feed interrupted: key cache flushed"
FEED_CAUGHT_UP = "revocation feed caught up: key cache in use"


@dataclass
class ChatLoop:
    """One user chatting back to back until stopped; records each answer's status and key source."""

    stack: ProcessStack
    user: User
    model: str
    answers: list[tuple[int, str]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            response = await self.stack.complete(self.user, self.model)
            self.answers.append((response.status_code, response.headers.get("x-switchyard-key-source", "")))

    @property
    def statuses(self) -> set[int]:
        return {status for status, _ in self.answers}

    @property
    def sources(self) -> list[str]:
        return [source for _, source in self.answers]


@contextlib.asynccontextmanager
async def running(loops: Sequence[ChatLoop]) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def byok_chats(stack: ProcessStack, user: User, count: int) -> None:
    for _ in range(count):
        response = await stack.complete(user, BYOK_MODEL)
        assert response.status_code == 200, response.text
        assert response.headers["x-switchyard-key-source"] == "user"


async def revocation_events(stack: ProcessStack, credential_id: str) -> tuple[int, int]:
    """(unpublished, published) CredentialRevoked outbox events for this credential."""
    counts = [0, 0]
    for payload, published_at in await stack.rows("SELECT payload, published_at FROM outbox_events"):
        if credentials_pb2.CredentialRevoked.FromString(payload).credential_id == credential_id:
            counts[published_at is not None] += 1
    return counts[0], counts[1]


async def sealed(stack: ProcessStack, key: dict[str, Any]) -> tuple[bytes, Binding]:
    """The stored envelope of a key and the binding keyvault opens it for."""
    (envelope, owner_id), *_ = await stack.rows(
        "SELECT envelope, owner_id FROM credentials WHERE id = %s", key["id"]
    )
    return bytes(envelope), Binding(key["id"], OwnerType.USER, str(owner_id), key["provider"])


async def refused_by_keyvault(stack: ProcessStack, envelope: bytes, binding: Binding) -> bool:
    """keyvault refuses to open the envelope for the router (its deny-list has the credential)."""
    try:
        await KeyVaultClient(stack.keyvault.port, stack.pki, timeout=5).decrypt(envelope, binding)
    except aio.AioRpcError as exc:
        return status_of(exc) == UNIFORM
    return False


async def test_nats_outage_under_load(process_stack: ProcessStack) -> None:
    stack = process_stack
    await eventually(lambda: stack.router.log_count(FEED_CAUGHT_UP) == 1, "router revocation feed caught up")
    platform, byok, revoker = await stack.register(), await stack.register(), await stack.register()
    byok_key = await stack.add_key(byok, "mistral")
    revoked_secret = provider_key("openai")
    revoked = await stack.add_key(revoker, "openai", revoked_secret)
    envelope, binding = await sealed(stack, revoked)

    # Healthy: one Decrypt serves many BYOK requests (the key cache is in use).
    await byok_chats(stack, byok, 4)
    assert stack.decrypts(byok_key["id"]) == 1

    platform_loop, byok_loop, revoker_loop = loops = [
        ChatLoop(stack, platform, PLATFORM_MODEL),
        ChatLoop(stack, byok, BYOK_MODEL),
        ChatLoop(stack, revoker, PLATFORM_MODEL),
    ]
    async with running(loops):
        await eventually(lambda: "user" in revoker_loop.sources, "the revoker's key in use")
        await asyncio.to_thread(stack.nats.stop)

        # Cut off: the router flushes its cache and asks keyvault for every BYOK request.
        await eventually(lambda: stack.router.log_count(FEED_INTERRUPTED) == 1, "router saw NATS go")
        await eventually(lambda: stack.ready_is(503), "chat-api /readyz reports NATS unavailable")
        decrypts_before = stack.decrypts(byok_key["id"])
        await byok_chats(stack, byok, 3)
        assert stack.decrypts(byok_key["id"]) >= decrypts_before + 3

        # The DELETE answers 204 without NATS: the row is gone, its event waits in the outbox.
        deleted = await stack.http.delete(f"/v1/keys/{revoked['id']}", headers=revoker.headers)
        returned_at = time.monotonic()
        assert deleted.status_code == 204, deleted.text
        assert await stack.rows("SELECT id FROM credentials WHERE id = %s", revoked["id"]) == []
        assert await revocation_events(stack, revoked["id"]) == (1, 0)
        served = len(revoker_loop.answers)
        await eventually(lambda: len(revoker_loop.answers) >= served + 3, "the revoker served meanwhile")
        assert not stack.nats.running

        await asyncio.to_thread(stack.nats.start)

        # Back by itself: the event is published and reaches keyvault; chat-api and router recover.
        async def published() -> bool:
            return await revocation_events(stack, revoked["id"]) == (0, 1)

        await eventually(published, "the outbox published the revocation")
        await eventually(lambda: refused_by_keyvault(stack, envelope, binding), "keyvault refuses the key")
        await eventually(lambda: stack.ready_is(200), "chat-api /readyz 200 again")
        await eventually(lambda: stack.router.log_count(FEED_CAUGHT_UP) == 2, "router feed caught up again")
        served_by = [len(loop.answers) for loop in loops]
        await eventually(
            lambda: all(len(loop.answers) > n for loop, n in zip(loops, served_by, strict=True)),
            "every loop served after the outage",
        )

    # Caching again: after one Decrypt the cache serves.
    await byok_chats(stack, byok, 1)
    decrypts_after = stack.decrypts(byok_key["id"])
    await byok_chats(stack, byok, 3)
    assert stack.decrypts(byok_key["id"]) == decrypts_after

    # Events flow both ways again: a key the provider rejects is marked invalid (router → chat-api).
    stack.sim.fail_next("mistral", 401)
    rejected = await stack.complete(byok, BYOK_MODEL)
    assert rejected.status_code == 422, rejected.text

    async def marked_invalid() -> bool:
        read = await stack.http.get(f"/v1/keys/{byok_key['id']}", headers=byok.headers)
        return bool(read.json()["status"] == "invalid")

    await eventually(marked_invalid, "the rejected key marked invalid")

    for loop in loops:
        assert loop.statuses == {200}, loop.answers
    assert set(platform_loop.sources) == {"platform"}
    assert set(byok_loop.sources) == {"user"}
    assert revoker_loop.sources[0] == "user"
    assert revoker_loop.sources[-1] == "platform"
    assert stack.provider_calls_with("openai", revoked_secret) > 0
    late = stack.provider_calls_with("openai", revoked_secret, started_after=returned_at)
    assert late == 0, f"{late} provider calls started with the revoked key after its DELETE returned"


async def test_a_revocation_waiting_for_nats_survives_a_chat_api_crash(process_stack: ProcessStack) -> None:
    stack = process_stack
    user = await stack.register()
    key = await stack.add_key(user, "openai")
    envelope, binding = await sealed(stack, key)
    await asyncio.to_thread(stack.nats.stop)

    deleted = await stack.http.delete(f"/v1/keys/{key['id']}", headers=user.headers)
    assert deleted.status_code == 204, deleted.text
    assert await revocation_events(stack, key["id"]) == (1, 0)
    stack.chat_api.kill()
    await asyncio.to_thread(stack.nats.start)
    await stack.chat_api.start()

    async def published() -> bool:
        return await revocation_events(stack, key["id"]) == (0, 1)

    await eventually(published, "the restarted chat-api published the revocation")
    await eventually(lambda: refused_by_keyvault(stack, envelope, binding), "keyvault refuses the key")
