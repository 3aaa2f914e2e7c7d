"""Revocations reach the router's key cache through JetStream: live, and across NATS outages.

Real components throughout: a nats-server process (stopped and restarted on the same port and
store), keyvault in-process over mTLS, the router's KeyVaultClient with its own certificate. A
small TCP relay in front of NATS cuts the router off alone, so that others can publish while it is
away. Decrypt calls are counted from keyvault's audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import pytest

from router.keys import KeyCache
from router.keyvault_client import CredentialUnusable, KeyVaultClient
from router.revocations import RevocationSync
from switchyard.events.v1 import credentials_pb2
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, OwnerType, seal
from switchyard_common.events import CREDENTIALS_STREAM, ensure_credentials_stream, publish_revocation
from switchyard_common.revocation_feed import FeedStart, RevocationFeed
from tests.conftest import RunningKeyVault
from tests.support.nats_server import NatsServer

INVALID_SUBJECT = "switchyard.credentials.invalid.v1"
PROPAGATION_BOUND_SECONDS = 5.0
RECONNECT_BOUND_SECONDS = 10.0
RECONNECT_DELAY = 0.2
TTL = 60.0


class RecordingCache(KeyCache):
    """The real cache, noting when each purge happened and whether caching was on at the time."""

    def __init__(self, keyvault: KeyVaultClient) -> None:
        super().__init__(keyvault, ttl_seconds=TTL, max_entries=100)
        self.purged_at: dict[str, float] = {}
        self.bypassed_at_purge: dict[str, bool] = {}

    def purge(self, credential_id: str) -> None:
        super().purge(credential_id)
        self.purged_at[credential_id] = time.monotonic()
        self.bypassed_at_purge[credential_id] = self.bypass


class Relay:
    """A TCP relay to NATS: `cut()` drops the router's connection and refuses new ones while NATS
    itself stays up for everyone else; `restore()` lets it back in."""

    def __init__(self, target_port: int) -> None:
        self.port = 0  # the first restore() binds a port of the kernel's choosing; later ones, the same
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            nats_reader, nats_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            client_writer.close()
            return
        self._writers |= {client_writer, nats_writer}
        await asyncio.gather(
            self._pipe(client_reader, nats_writer),
            self._pipe(nats_reader, client_writer),
            return_exceptions=True,
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


def binding(credential_id: str) -> Binding:
    return Binding(credential_id, OwnerType.USER, "user-1", "openai")


def decrypt_calls(audit_path: Path) -> int:
    if not audit_path.exists():
        return 0
    return sum(
        1 for line in audit_path.read_text().splitlines() if json.loads(line)["operation"] == "decrypt"
    )


def revocation(credential_id: str) -> credentials_pb2.CredentialRevoked:
    return credentials_pb2.CredentialRevoked(
        event_id=uuid.uuid4().hex,
        credential_id=credential_id,
        owner_type=keyvault_pb2.OWNER_TYPE_USER,
        owner_id="user-1",
        provider="openai",
        reason="deleted by owner",
    )


async def publish(nats_url: str, *credential_ids: str) -> list[int]:
    """Publish as chat-api does (its own connection, waiting for JetStream's ack)."""
    nc = await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream()
        return [await publish_revocation(js, revocation(credential_id)) for credential_id in credential_ids]
    finally:
        await nc.close()


async def wait_for(condition: Callable[[], bool], *, within: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            pytest.fail(f"{what}: not within {within}s")
        await asyncio.sleep(0.002)
    return time.monotonic() - start


@pytest.fixture
async def client(keyvault: RunningKeyVault) -> AsyncIterator[KeyVaultClient]:
    async with KeyVaultClient(f"localhost:{keyvault.port}", keyvault.pki.files["router"], 5.0) as client:
        yield client


@pytest.fixture
async def envelopes(keyvault: RunningKeyVault) -> Callable[..., Awaitable[dict[str, bytes]]]:
    kid, public_key = await keyvault.client().public_key()

    async def make(*credential_ids: str) -> dict[str, bytes]:
        return {
            cid: seal(f"sk-{cid}".encode(), public_key=public_key, kid=kid, binding=binding(cid))
            for cid in credential_ids
        }

    return make


@pytest.fixture
def cache(client: KeyVaultClient) -> RecordingCache:
    return RecordingCache(client)


@contextlib.asynccontextmanager
async def following(cache: KeyCache, nats_url: str) -> AsyncIterator[RevocationSync]:
    sync = RevocationSync(cache, servers=[nats_url], retention_days=1, reconnect_delay=RECONNECT_DELAY)
    sync.start()
    try:
        yield sync
    finally:
        await sync.stop()


async def test_cache_is_bypassed_until_the_feed_has_caught_up(
    cache: RecordingCache,
    nats_server: NatsServer,
    keyvault: RunningKeyVault,
    envelopes: Callable[..., Awaitable[dict[str, bytes]]],
) -> None:
    sealed = await envelopes("cred-1")
    nats_server.stop()
    async with following(cache, nats_server.url) as sync:
        assert cache.bypass
        for _ in range(3):
            assert await cache.get(binding("cred-1"), sealed["cred-1"]) == "sk-cred-1"
        assert decrypt_calls(keyvault.audit_path) == 3
        assert len(cache) == 0

        nats_server.start()
        await wait_for(lambda: sync.healthy, within=RECONNECT_BOUND_SECONDS, what="feed caught up")
        assert not cache.bypass
        for _ in range(3):
            await cache.get(binding("cred-1"), sealed["cred-1"])
        assert decrypt_calls(keyvault.audit_path) == 4
    assert cache.bypass  # stopped: nothing vouches for the cache any more


async def test_revocation_over_nats_purges_the_cache(
    cache: RecordingCache,
    nats_server: NatsServer,
    keyvault: RunningKeyVault,
    envelopes: Callable[..., Awaitable[dict[str, bytes]]],
    record_property: Callable[[str, object], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="router.revocations")
    sealed = await envelopes("cred-revoked", "cred-kept")
    async with following(cache, nats_server.url) as sync:
        await wait_for(lambda: sync.healthy, within=PROPAGATION_BOUND_SECONDS, what="feed caught up")
        for cid, envelope in sealed.items():
            await cache.get(binding(cid), envelope)
        assert len(cache) == 2

        nc = await nats.connect(nats_server.url, connect_timeout=2, allow_reconnect=False)
        try:
            sent = time.monotonic()
            await publish_revocation(nc.jetstream(), revocation("cred-revoked"))
            acked = time.monotonic()
            await wait_for(
                lambda: "cred-revoked" in cache.purged_at, within=PROPAGATION_BOUND_SECONDS, what="purge"
            )
        finally:
            await nc.close()
        purged = cache.purged_at["cred-revoked"]
        print(
            f"\nrouter cache purge: {(purged - acked) * 1000:.1f} ms after the publish ack "
            f"({(purged - sent) * 1000:.1f} ms after the publish call)"
        )
        record_property("router_purge_after_ack_ms", round((purged - acked) * 1000, 1))

        assert len(cache) == 1
        # The observable purge (operators, `make bench-revocation`): the credential id, nothing more.
        purges = [r for r in caplog.records if r.getMessage() == "credential purged"]
        assert [getattr(r, "credential_id", None) for r in purges] == ["cred-revoked"]
        calls = decrypt_calls(keyvault.audit_path)
        with pytest.raises(CredentialUnusable):
            await cache.get(binding("cred-revoked"), sealed["cred-revoked"])
        assert await cache.get(binding("cred-kept"), sealed["cred-kept"]) == "sk-cred-kept"
        assert decrypt_calls(keyvault.audit_path) == calls
        assert sync.healthy


async def test_revocation_missed_while_cut_off_is_applied_before_caching_resumes(
    cache: RecordingCache,
    nats_server: NatsServer,
    keyvault: RunningKeyVault,
    envelopes: Callable[..., Awaitable[dict[str, bytes]]],
) -> None:
    sealed = await envelopes("cred-missed", "cred-kept")
    relay = Relay(nats_server.port)
    await relay.restore()
    try:
        async with following(cache, relay.url) as sync:
            await wait_for(lambda: sync.healthy, within=PROPAGATION_BOUND_SECONDS, what="feed caught up")
            await publish(nats_server.url, "cred-seen")
            await wait_for(
                lambda: "cred-seen" in cache.purged_at, within=PROPAGATION_BOUND_SECONDS, what="purge"
            )
            for cid, envelope in sealed.items():
                await cache.get(binding(cid), envelope)
            assert len(cache) == 2

            await relay.cut()
            await wait_for(lambda: cache.bypass, within=RECONNECT_BOUND_SECONDS, what="bypass on disconnect")
            assert len(cache) == 0
            calls = decrypt_calls(keyvault.audit_path)
            for _ in range(3):
                await cache.get(binding("cred-kept"), sealed["cred-kept"])
            assert decrypt_calls(keyvault.audit_path) == calls + 3

            # Published (and acknowledged) while the router cannot hear it.
            await publish(nats_server.url, "cred-missed")
            await relay.restore()
            await wait_for(lambda: sync.healthy, within=RECONNECT_BOUND_SECONDS, what="caught up again")
            assert cache.bypassed_at_purge["cred-missed"], "caching resumed before the missed revocation"
            assert list(cache.purged_at) == ["cred-seen", "cred-missed"]  # resumed, not replayed
            with pytest.raises(CredentialUnusable):
                await cache.get(binding("cred-missed"), sealed["cred-missed"])
            await cache.get(binding("cred-kept"), sealed["cred-kept"])
            await cache.get(binding("cred-kept"), sealed["cred-kept"])
            assert decrypt_calls(keyvault.audit_path) == calls + 4
    finally:
        await relay.cut()


async def test_nats_restart_flushes_bypasses_then_resumes_caching(
    cache: RecordingCache,
    nats_server: NatsServer,
    keyvault: RunningKeyVault,
    envelopes: Callable[..., Awaitable[dict[str, bytes]]],
    record_property: Callable[[str, object], None],
) -> None:
    sealed = await envelopes("cred-kept", "cred-after-restart", "cred-live")
    async with following(cache, nats_server.url) as sync:
        await wait_for(lambda: sync.healthy, within=PROPAGATION_BOUND_SECONDS, what="feed caught up")
        for cid, envelope in sealed.items():
            await cache.get(binding(cid), envelope)
        calls = decrypt_calls(keyvault.audit_path)
        assert calls == 3

        nats_server.stop()
        await wait_for(lambda: cache.bypass, within=RECONNECT_BOUND_SECONDS, what="bypass on disconnect")
        assert len(cache) == 0
        assert not sync.healthy
        for _ in range(3):
            await cache.get(binding("cred-kept"), sealed["cred-kept"])
        assert decrypt_calls(keyvault.audit_path) == calls + 3  # keyvault keeps serving meanwhile

        nats_server.start()
        restarted = time.monotonic()
        await publish(nats_server.url, "cred-after-restart")
        await wait_for(
            lambda: "cred-after-restart" in cache.purged_at, within=RECONNECT_BOUND_SECONDS, what="purge"
        )
        await wait_for(lambda: sync.healthy, within=RECONNECT_BOUND_SECONDS, what="caught up again")
        elapsed = time.monotonic() - restarted
        print(f"\nrouter caching again {elapsed * 1000:.0f} ms after the NATS restart")
        record_property("router_cache_resumed_after_restart_ms", round(elapsed * 1000))
        assert not cache.bypass
        with pytest.raises(CredentialUnusable):
            await cache.get(binding("cred-after-restart"), sealed["cred-after-restart"])
        await cache.get(binding("cred-kept"), sealed["cred-kept"])
        await cache.get(binding("cred-kept"), sealed["cred-kept"])
        assert decrypt_calls(keyvault.audit_path) == calls + 4

        # The resumed consumer keeps delivering live events.
        await cache.get(binding("cred-live"), sealed["cred-live"])
        await publish(nats_server.url, "cred-live")
        await wait_for(lambda: "cred-live" in cache.purged_at, within=PROPAGATION_BOUND_SECONDS, what="purge")
        assert len(cache) == 1


async def test_router_follows_new_revocations_only(
    cache: RecordingCache, nats_server: NatsServer, keyvault: RunningKeyVault
) -> None:
    await publish(nats_server.url, "cred-old-1", "cred-old-2")
    async with following(cache, nats_server.url) as sync:
        await wait_for(lambda: sync.healthy, within=PROPAGATION_BOUND_SECONDS, what="feed caught up")
        await publish(nats_server.url, "cred-new")
        await wait_for(lambda: "cred-new" in cache.purged_at, within=PROPAGATION_BOUND_SECONDS, what="purge")
        assert list(cache.purged_at) == ["cred-new"]


async def test_replaying_feed_catches_up_when_another_subject_is_newest(nats_server: NatsServer) -> None:
    """keyvault's mode: the stream also carries CredentialInvalid events, and the newest message
    being one of those must not keep a replaying feed from ever being ready."""
    nc = await nats.connect(nats_server.url, connect_timeout=2, allow_reconnect=False)
    try:
        await ensure_credentials_stream(nc.jetstream(), retention_days=1)
        await publish(nats_server.url, "cred-1", "cred-2")
        invalid = credentials_pb2.CredentialInvalid(event_id=uuid.uuid4().hex, credential_id="cred-3")
        await nc.jetstream().publish(INVALID_SUBJECT, invalid.SerializeToString(), stream=CREDENTIALS_STREAM)
    finally:
        await nc.close()

    revoked: list[str] = []
    ready = asyncio.Event()

    async def on_revoked(credential_id: str) -> None:
        revoked.append(credential_id)

    async def on_ready() -> None:
        ready.set()

    feed = RevocationFeed(
        servers=[nats_server.url],
        retention_days=1,
        client_name="test",
        start=FeedStart.REPLAY,
        on_revoked=on_revoked,
        on_ready=on_ready,
    )
    feed.start()
    try:
        await asyncio.wait_for(ready.wait(), timeout=PROPAGATION_BOUND_SECONDS)
        assert revoked == ["cred-1", "cred-2"]
        assert feed.healthy
    finally:
        await feed.stop()


async def test_replaying_feed_on_an_empty_stream_is_ready_at_once(nats_server: NatsServer) -> None:
    ready = asyncio.Event()

    async def on_revoked(credential_id: str) -> None:
        raise AssertionError(credential_id)

    async def on_ready() -> None:
        ready.set()

    feed = RevocationFeed(
        servers=[nats_server.url],
        retention_days=1,
        client_name="test",
        start=FeedStart.REPLAY,
        on_revoked=on_revoked,
        on_ready=on_ready,
    )
    feed.start()
    try:
        await asyncio.wait_for(ready.wait(), timeout=PROPAGATION_BOUND_SECONDS)
        assert feed.last_sequence == 0
    finally:
        await feed.stop()
