"""The invalid-key consumer: a CredentialInvalid from the router marks the stored key `invalid`."""

from __future__ import annotations

import uuid

import nats

from chat_api.credentials.invalid_consumer import DURABLE
from switchyard.events.v1 import credentials_pb2
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.events import CREDENTIALS_STREAM, INVALID_SUBJECT, publish_credential_invalid
from tests.support.chat_api import ChatApiStack, User
from tests.support.credentials import credential_row, eventually


async def publish_invalid(stack: ChatApiStack, user: User, credential_id: str, provider: str) -> None:
    """What the router publishes when a provider answers 401 to a stored key."""
    nc = await nats.connect(stack.nats.url)
    try:
        event = credentials_pb2.CredentialInvalid(
            event_id=uuid.uuid4().hex,
            credential_id=credential_id,
            owner_type=keyvault_pb2.OWNER_TYPE_USER,
            owner_id=user.id,
            provider=provider,
            provider_status=401,
        )
        await publish_credential_invalid(nc.jetstream(), event)
    finally:
        await nc.close()


async def publish_raw(stack: ChatApiStack, payload: bytes) -> None:
    nc = await nats.connect(stack.nats.url)
    try:
        await nc.jetstream().publish(INVALID_SUBJECT, payload, stream=CREDENTIALS_STREAM)
    finally:
        await nc.close()


async def status_becomes(stack: ChatApiStack, user: User, key_id: str, status: str) -> None:
    async def check() -> bool:
        response = await stack.http.get(f"/v1/keys/{key_id}", headers=user.headers)
        return bool(response.json()["status"] == status)

    await eventually(check, what=f"key {key_id} to become {status}")


async def nothing_left_to_consume(stack: ChatApiStack) -> None:
    nc = await nats.connect(stack.nats.url)
    try:
        jsm = nc.jetstream()

        async def drained() -> bool:
            info = await jsm.consumer_info(CREDENTIALS_STREAM, DURABLE)
            return bool(info.num_pending == 0 and info.num_ack_pending == 0)

        await eventually(drained, what="the consumer to acknowledge every event")
    finally:
        await nc.close()


async def test_a_rejected_key_is_marked_invalid(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "openai")
    other = await stack.add_key(user, "groq")
    await publish_invalid(stack, user, key["id"], "openai")
    await status_becomes(stack, user, key["id"], "invalid")
    await nothing_left_to_consume(stack)
    assert (await stack.http.get(f"/v1/keys/{other['id']}", headers=user.headers)).json()[
        "status"
    ] == "active"


async def test_duplicates_unknown_ids_and_garbage_are_acknowledged(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "anthropic")
    await publish_raw(stack, b"\xff\xfe not a protobuf")
    await publish_raw(
        stack, credentials_pb2.CredentialInvalid(credential_id="not-a-uuid").SerializeToString()
    )
    await publish_invalid(stack, user, str(uuid.uuid4()), "anthropic")
    await publish_invalid(stack, user, key["id"], "anthropic")
    await publish_invalid(stack, user, key["id"], "anthropic")
    await status_becomes(stack, user, key["id"], "invalid")
    await nothing_left_to_consume(stack)
    row = credential_row(stack, key["id"])
    assert row is not None
    assert row.status == "invalid"


async def test_the_consumer_keeps_working_across_a_nats_restart(stack: ChatApiStack) -> None:
    user = await stack.register()
    first, second = await stack.add_key(user, "google"), await stack.add_key(user, "xai")
    await publish_invalid(stack, user, first["id"], "google")
    await status_becomes(stack, user, first["id"], "invalid")

    stack.nats.stop()
    stack.nats.start()
    await publish_invalid(stack, user, second["id"], "xai")
    await status_becomes(stack, user, second["id"], "invalid")


async def test_a_key_verified_again_becomes_active(stack: ChatApiStack) -> None:
    user = await stack.register()
    key = await stack.add_key(user, "together")
    await publish_invalid(stack, user, key["id"], "together")
    await status_becomes(stack, user, key["id"], "invalid")
    verified = await stack.http.post(f"/v1/keys/{key['id']}/verify", headers=user.headers)
    assert verified.json()["verdict"] == "valid"
    assert verified.json()["key"]["status"] == "active"


async def test_a_401_during_a_chat_marks_the_key_invalid_end_to_end(stack: ChatApiStack) -> None:
    """No hand-made event: the router sees the provider's 401 and publishes, chat-api consumes."""
    user = await stack.register()
    key = await stack.add_key(user, "openai")
    stack.sim.fail_next("openai", 401)
    body = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]}
    rejected = await stack.http.post("/v1/chat/completions", json=body, headers=user.headers)
    assert rejected.status_code == 422
    await status_becomes(stack, user, key["id"], "invalid")
