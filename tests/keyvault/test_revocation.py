"""Revocations reach keyvault through JetStream: live, on replay, and across NATS outages.

Everything here is real: a nats-server process (stopped and restarted on the same port and store
where a test needs an outage), keyvault servers in-process over mTLS, nats-py publishing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TypeVar

import grpc
import nats
import pytest
from google.protobuf.message import DecodeError
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from keyvault.server import KeyVaultServer
from switchyard.events.v1 import credentials_pb2
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, OwnerType
from switchyard_common.events import CREDENTIALS_STREAM, REVOKED_SUBJECT, publish_revocation
from tests.support.keyvault import (
    UNIFORM,
    KeyVaultClient,
    keyvault_settings,
    probe_health,
    serving,
    started,
    status_of,
    status_or_code,
)
from tests.support.keyvault import TestPki as Pki
from tests.support.nats_server import NatsServer
from tests.support.ports import free_port

T = TypeVar("T")

PROPAGATION_BOUND_SECONDS = 5.0
# After a NATS restart keyvault must first reconnect (nats-py waits ~1 s between attempts).
RECONNECT_BOUND_SECONDS = 10.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def binding(credential_id: str) -> Binding:
    return Binding(credential_id, OwnerType.USER, "user-1", "openai")


class Vault:
    """One running keyvault, with channels to it as chat-api (seals) and router (decrypts) kept open."""

    def __init__(self, server: KeyVaultServer, pki: Pki) -> None:
        self.server = server
        self.client = KeyVaultClient(server.port, pki, timeout=5, keep_open=True)

    async def seal(self, credential_id: str, secret: bytes) -> bytes:
        return await self.client.seal(binding(credential_id), secret=secret)

    async def decrypt(self, credential_id: str, envelope: bytes) -> bytes:
        reply = await self.client.decrypt(envelope, binding(credential_id))
        return reply.secret

    async def refusal(self, credential_id: str, envelope: bytes) -> aio.AioRpcError | None:
        """The error Decrypt fails with, or None when it succeeds."""
        try:
            await self.decrypt(credential_id, envelope)
        except aio.AioRpcError as exc:
            return exc
        return None

    async def health(self) -> int:
        """Health over the mTLS port (any authenticated caller may ask)."""
        async with self.client.channel("router") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        return int(reply.status)

    async def probe_health(self) -> int:
        """Health over the plaintext probe port, as kubelet asks."""
        return await probe_health(self.server.health_port, timeout=5)

    async def close(self) -> None:
        await self.client.close()


VaultFactory = Callable[..., AbstractAsyncContextManager[Vault]]


@pytest.fixture
def start_vault(test_pki: Pki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path) -> VaultFactory:
    """Start keyvaults on the test's nats-server; each is stopped when its `async with` ends."""

    @asynccontextmanager
    async def factory(*, wait_ready: bool = True, **overrides: object) -> AsyncIterator[Vault]:
        settings = keyvault_settings(
            pki_=test_pki,
            keys_dir=keys_dir,
            nats_url=nats_server.url,
            audit_path=tmp_path / "audit.jsonl",
            **overrides,
        )
        async with serving(settings, wait_ready=wait_ready) as server:
            vault = Vault(server, test_pki)
            try:
                yield vault
            finally:
                await vault.close()

    return factory


async def poll_until(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *, within: float, what: str
) -> tuple[T, float]:
    """Call `probe` until `accept` holds; return the accepted value and the seconds it took."""
    start = time.monotonic()
    deadline = start + within
    while True:
        value = await probe()
        if accept(value):
            return value, time.monotonic() - start
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within}s (last: {value!r})")
        await asyncio.sleep(0.005)


def is_uniform_refusal(error: aio.AioRpcError | None) -> bool:
    return error is not None and status_of(error) == UNIFORM


async def wait_refused(vault: Vault, credential_id: str, envelope: bytes, *, within: float) -> float:
    """Poll Decrypt until it gives the uniform refusal; return how long that took."""
    _, elapsed = await poll_until(
        lambda: vault.refusal(credential_id, envelope),
        is_uniform_refusal,
        within=within,
        what=f"Decrypt of revoked {credential_id} refused",
    )
    return elapsed


async def wait_health(check: Callable[[], Awaitable[int]], status: int, *, within: float) -> None:
    await poll_until(
        lambda: status_or_code(check()), lambda value: value == status, within=within, what=f"health {status}"
    )


def revocation(credential_id: str, event_id: str | None = None) -> credentials_pb2.CredentialRevoked:
    return credentials_pb2.CredentialRevoked(
        event_id=event_id or uuid.uuid4().hex,
        credential_id=credential_id,
        owner_type=keyvault_pb2.OWNER_TYPE_USER,
        owner_id="user-1",
        provider="openai",
        reason="deleted by owner",
    )


async def publish(nats_url: str, *events: credentials_pb2.CredentialRevoked) -> list[int]:
    """Publish as chat-api does (its own connection, waiting for JetStream's ack)."""
    nc = await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream()
        return [await publish_revocation(js, event) for event in events]
    finally:
        await nc.close()


async def publish_raw(nats_url: str, data: bytes) -> int:
    nc = await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False)
    try:
        ack = await nc.jetstream().publish(REVOKED_SUBJECT, data, stream=CREDENTIALS_STREAM)
        return int(ack.seq)
    finally:
        await nc.close()


async def test_revocation_propagates_within_bound_and_spares_other_credentials(
    start_vault: VaultFactory, nats_server: NatsServer, record_property: Callable[[str, object], None]
) -> None:
    async with start_vault() as vault:
        revoked = await vault.seal("cred-revoked", b"sk-revoked")
        kept = await vault.seal("cred-kept", b"sk-kept")
        assert await vault.decrypt("cred-revoked", revoked) == b"sk-revoked"
        assert await vault.decrypt("cred-kept", kept) == b"sk-kept"

        await publish(nats_server.url, revocation("cred-revoked"))
        elapsed = await wait_refused(vault, "cred-revoked", revoked, within=PROPAGATION_BOUND_SECONDS)
        print(f"\nrevocation propagation: {elapsed * 1000:.1f} ms (publish ack -> Decrypt refused)")
        record_property("revocation_propagation_ms", round(elapsed * 1000, 1))

        # Refused for good, and indistinguishable from any other failure to open.
        tampered = bytearray(kept)
        tampered[-1] ^= 1
        tampered_error = await vault.refusal("cred-kept", bytes(tampered))
        revoked_error = await vault.refusal("cred-revoked", revoked)
        assert is_uniform_refusal(tampered_error)
        assert is_uniform_refusal(revoked_error)
        assert revoked_error is not None
        assert tampered_error is not None
        assert status_of(revoked_error) == status_of(tampered_error)
        assert await vault.decrypt("cred-kept", kept) == b"sk-kept"
        assert await vault.health() == SERVING


async def test_restarted_keyvault_replays_revocations_before_serving(
    start_vault: VaultFactory, nats_server: NatsServer
) -> None:
    async with start_vault() as first:
        revoked = await first.seal("cred-revoked", b"sk-revoked")
        kept = await first.seal("cred-kept", b"sk-kept")
        await publish(nats_server.url, revocation("cred-revoked"))
        await wait_refused(first, "cred-revoked", revoked, within=PROPAGATION_BOUND_SECONDS)

    async with start_vault(wait_ready=False) as second:
        await wait_health(second.health, SERVING, within=PROPAGATION_BOUND_SECONDS)
        # The very first call after SERVING already knows: the stream was replayed, not awaited.
        assert is_uniform_refusal(await second.refusal("cred-revoked", revoked))
        assert await second.decrypt("cred-kept", kept) == b"sk-kept"
        assert second.server.revocations.is_revoked("cred-revoked")
        assert not second.server.revocations.is_revoked("cred-kept")


async def test_duplicate_events_are_harmless(start_vault: VaultFactory, nats_server: NatsServer) -> None:
    async with start_vault() as vault:
        envelope = await vault.seal("cred-dup", b"sk-dup")
        kept = await vault.seal("cred-kept", b"sk-kept")
        event = revocation("cred-dup")
        # A retried publish of the same event_id is de-duplicated by JetStream...
        first_seq, retried_seq = await publish(nats_server.url, event, event)
        assert retried_seq == first_seq
        # ...and another event for an already revoked credential changes nothing either.
        await publish(nats_server.url, revocation("cred-dup"))
        await wait_refused(vault, "cred-dup", envelope, within=PROPAGATION_BOUND_SECONDS)
        assert len(vault.server.revocations) == 1
        assert await vault.decrypt("cred-kept", kept) == b"sk-kept"
        assert await vault.health() == SERVING

    async with start_vault(wait_ready=False) as replayed:
        await wait_health(replayed.health, SERVING, within=PROPAGATION_BOUND_SECONDS)
        assert is_uniform_refusal(await replayed.refusal("cred-dup", envelope))
        assert len(replayed.server.revocations) == 1


async def test_undecodable_message_does_not_stop_the_consumer(
    start_vault: VaultFactory, nats_server: NatsServer
) -> None:
    # A truncated length-delimited field: not a CredentialRevoked.
    garbage = b"\x0a\xff\xff\xff"
    with pytest.raises(DecodeError):
        credentials_pb2.CredentialRevoked.FromString(garbage)

    async with start_vault() as vault:
        envelope = await vault.seal("cred-after-garbage", b"sk-1")
        await publish_raw(nats_server.url, garbage)
        await publish_raw(nats_server.url, b"")  # empty: decodes to an event without a credential
        await publish(nats_server.url, revocation("cred-after-garbage"))
        await wait_refused(vault, "cred-after-garbage", envelope, within=PROPAGATION_BOUND_SECONDS)
        assert len(vault.server.revocations) == 1
        # Garbage as the newest message: a replaying keyvault must still reach SERVING.
        await publish_raw(nats_server.url, garbage)

    async with start_vault(wait_ready=False) as replayed:
        await wait_health(replayed.health, SERVING, within=PROPAGATION_BOUND_SECONDS)
        assert is_uniform_refusal(await replayed.refusal("cred-after-garbage", envelope))


async def test_keyvault_started_during_nats_outage_serves_once_nats_is_back(
    start_vault: VaultFactory, nats_server: NatsServer
) -> None:
    nats_server.stop()
    async with start_vault(wait_ready=False, health_port=free_port()) as vault:
        envelope = await vault.seal("cred-1", b"sk-1")  # GetPublicKey needs no revocation list
        # Not ready: probes say so on both ports, and Decrypt refuses as retryable.
        assert await vault.health() == NOT_SERVING
        assert await vault.probe_health() == NOT_SERVING
        error = await vault.refusal("cred-1", envelope)
        assert error is not None
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert not vault.server.revocations.ready

        nats_server.start()
        await wait_health(vault.probe_health, SERVING, within=RECONNECT_BOUND_SECONDS)
        assert await vault.health() == SERVING
        assert await vault.decrypt("cred-1", envelope) == b"sk-1"


async def test_revocation_published_across_nats_restart_is_applied(
    start_vault: VaultFactory, nats_server: NatsServer, record_property: Callable[[str, object], None]
) -> None:
    async with start_vault() as vault:
        before = await vault.seal("cred-before", b"sk-before")
        envelope = await vault.seal("cred-outage", b"sk-outage")
        later = await vault.seal("cred-later", b"sk-later")
        kept = await vault.seal("cred-kept", b"sk-kept")
        await publish(nats_server.url, revocation("cred-before"))
        await wait_refused(vault, "cred-before", before, within=PROPAGATION_BOUND_SECONDS)
        assert await vault.decrypt("cred-outage", envelope) == b"sk-outage"

        nats_server.stop()
        # keyvault keeps serving through a NATS outage (chat-api deletes revoked rows anyway).
        assert await vault.decrypt("cred-kept", kept) == b"sk-kept"
        assert await vault.health() == SERVING

        nats_server.start()
        # Published as soon as NATS is back: most likely before keyvault has reconnected.
        await publish(nats_server.url, revocation("cred-outage"))
        elapsed = await wait_refused(vault, "cred-outage", envelope, within=RECONNECT_BOUND_SECONDS)
        print(f"\nrevocation applied {elapsed * 1000:.0f} ms after NATS restart + publish")
        record_property("revocation_after_nats_restart_ms", round(elapsed * 1000))

        # The resumed consumer keeps delivering live events.
        await publish(nats_server.url, revocation("cred-later"))
        elapsed = await wait_refused(vault, "cred-later", later, within=PROPAGATION_BOUND_SECONDS)
        record_property("revocation_after_resume_ms", round(elapsed * 1000, 1))
        assert await vault.decrypt("cred-kept", kept) == b"sk-kept"
        assert is_uniform_refusal(await vault.refusal("cred-before", before))
        assert len(vault.server.revocations) == 3
        assert await vault.health() == SERVING


async def test_keyvault_stops_promptly_during_nats_outage(
    test_pki: Pki,
    keys_dir: Path,
    nats_server: NatsServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = keyvault_settings(
        pki_=test_pki, keys_dir=keys_dir, nats_url=nats_server.url, audit_path=tmp_path / "audit.jsonl"
    )
    server = await started(settings)
    nats_server.stop()

    async def disconnect_logged() -> bool:
        return any("disconnected from NATS" in record.getMessage() for record in caplog.records)

    await poll_until(disconnect_logged, bool, within=RECONNECT_BOUND_SECONDS, what="disconnect noticed")
    start = time.monotonic()
    await asyncio.wait_for(server.stop(grace=0), timeout=5)
    assert time.monotonic() - start < 5
    assert any("keyvault stopped" in record.getMessage() for record in caplog.records)
