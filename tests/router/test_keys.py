"""The router's keyvault client and plaintext-key cache, against a real keyvault over mTLS.

Decrypt calls are counted from keyvault's own audit log (one line per Decrypt it answered or
refused), so "one Decrypt" means one call that reached keyvault, not one call to a test double.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from router.keys import KeyCache, PlaintextKey
from router.keyvault_client import (
    CREDENTIAL_UNUSABLE_MESSAGE,
    CredentialUnusable,
    KeyResolutionError,
    KeyServiceMisconfigured,
    KeyServiceUnavailable,
    KeyVaultClient,
)
from switchyard_common.envelope import Binding, OwnerType, seal
from tests.conftest import RunningKeyVault
from tests.support.keyvault import KeyVaultClient as SupportClient
from tests.support.keyvault import TestPki as Pki
from tests.support.keyvault import keyvault_settings, started
from tests.support.nats_server import NatsServer
from tests.support.ports import free_port

TTL = 60.0
Sealer = Callable[..., Awaitable[bytes]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HeldKeyVault:
    """Makes the real Decrypt, then holds its answer until released: a reply still in transit."""

    def __init__(self, inner: KeyVaultClient) -> None:
        self.inner = inner
        self.answered = asyncio.Event()
        self.release = asyncio.Event()

    async def decrypt(self, envelope: bytes, binding: Binding) -> bytes:
        secret = await self.inner.decrypt(envelope, binding)
        self.answered.set()
        await self.release.wait()
        return secret


def binding(credential_id: str, owner_id: str = "user-1") -> Binding:
    return Binding(credential_id, OwnerType.USER, owner_id, "openai")


def decrypt_calls(audit_path: Path) -> int:
    if not audit_path.exists():
        return 0
    lines = audit_path.read_text().splitlines()
    return sum(1 for line in lines if json.loads(line)["operation"] == "decrypt")


def flipped(envelope: bytes) -> bytes:
    damaged = bytearray(envelope)
    damaged[-1] ^= 1
    return bytes(damaged)


@pytest.fixture
async def sealer(keyvault: RunningKeyVault) -> Sealer:
    """Seal as chat-api does, with keyvault's public key (fetched once)."""
    kid, public_key = await keyvault.client().public_key()

    async def seal_for(credential: Binding, secret: str | bytes) -> bytes:
        raw = secret.encode() if isinstance(secret, str) else secret
        return seal(raw, public_key=public_key, kid=kid, binding=credential)

    return seal_for


@pytest.fixture
async def client(keyvault: RunningKeyVault) -> AsyncIterator[KeyVaultClient]:
    async with KeyVaultClient(f"localhost:{keyvault.port}", keyvault.pki.files["router"], 5.0) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(client: KeyVaultClient, clock: FakeClock) -> KeyCache:
    return KeyCache(client, ttl_seconds=TTL, max_entries=100, clock=clock)


# --- the client ------------------------------------------------------------------------------------


async def test_client_decrypts_as_the_router(client: KeyVaultClient, sealer: Sealer) -> None:
    envelope = await sealer(binding("cred-1"), "sk-one")
    assert await client.decrypt(envelope, binding("cred-1")) == b"sk-one"


async def test_client_refusals_are_credential_unusable(client: KeyVaultClient, sealer: Sealer) -> None:
    envelope = await sealer(binding("cred-1"), "sk-refused-secret")
    with pytest.raises(CredentialUnusable) as tampered:
        await client.decrypt(flipped(envelope), binding("cred-1"))
    with pytest.raises(CredentialUnusable) as moved:
        await client.decrypt(envelope, binding("cred-1", owner_id="someone-else"))
    assert str(tampered.value) == str(moved.value) == CREDENTIAL_UNUSABLE_MESSAGE
    assert tampered.value.__cause__ is None
    assert tampered.value.__suppress_context__


async def test_client_with_another_identity_is_a_configuration_error(
    keyvault: RunningKeyVault, sealer: Sealer
) -> None:
    envelope = await sealer(binding("cred-1"), "sk-one")
    async with KeyVaultClient(f"localhost:{keyvault.port}", keyvault.pki.files["chat-api"], 5.0) as wrong:
        with pytest.raises(KeyServiceMisconfigured, match="PERMISSION_DENIED") as info:
            await wrong.decrypt(envelope, binding("cred-1"))
    assert "ROUTER_TLS_CERT_FILE" in str(info.value)


async def test_client_without_keyvault_is_unavailable(test_pki: Pki) -> None:
    async with KeyVaultClient(f"localhost:{free_port()}", test_pki.files["router"], 5.0) as client:
        with pytest.raises(KeyServiceUnavailable, match="UNAVAILABLE"):
            await client.decrypt(b"not-an-envelope", binding("cred-1"))


# --- the cache -------------------------------------------------------------------------------------


async def test_second_get_is_a_hit(cache: KeyCache, sealer: Sealer, keyvault: RunningKeyVault) -> None:
    envelope = await sealer(binding("cred-1"), "sk-one")
    assert await cache.get(binding("cred-1"), envelope) == "sk-one"
    assert await cache.get(binding("cred-1"), envelope) == "sk-one"
    assert decrypt_calls(keyvault.audit_path) == 1
    assert (cache.stats.decrypts, cache.stats.hits, cache.stats.misses) == (1, 1, 1)
    assert len(cache) == 1


async def test_entry_expires_after_the_ttl(
    cache: KeyCache, clock: FakeClock, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    envelope = await sealer(binding("cred-1"), "sk-one")
    await cache.get(binding("cred-1"), envelope)
    clock.now += TTL - 0.001
    await cache.get(binding("cred-1"), envelope)
    assert decrypt_calls(keyvault.audit_path) == 1
    clock.now += 0.001
    assert await cache.get(binding("cred-1"), envelope) == "sk-one"
    assert decrypt_calls(keyvault.audit_path) == 2
    # Re-cached from the new Decrypt, with a fresh TTL.
    clock.now += TTL / 2
    await cache.get(binding("cred-1"), envelope)
    assert decrypt_calls(keyvault.audit_path) == 2


async def test_ttl_zero_never_caches(
    client: KeyVaultClient, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    cache = KeyCache(client, ttl_seconds=0, max_entries=100)
    envelope = await sealer(binding("cred-1"), "sk-one")
    for _ in range(3):
        assert await cache.get(binding("cred-1"), envelope) == "sk-one"
    assert decrypt_calls(keyvault.audit_path) == 3
    assert len(cache) == 0
    assert cache.stats.hits == 0


async def test_replaced_envelope_is_decrypted_again(
    cache: KeyCache, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    old = await sealer(binding("cred-1"), "sk-old")
    new = await sealer(binding("cred-1"), "sk-new")
    assert await cache.get(binding("cred-1"), old) == "sk-old"
    assert await cache.get(binding("cred-1"), new) == "sk-new"
    assert await cache.get(binding("cred-1"), new) == "sk-new"
    assert decrypt_calls(keyvault.audit_path) == 2


async def test_cached_key_is_not_served_for_another_binding(
    cache: KeyCache, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    envelope = await sealer(binding("cred-1"), "sk-one")
    await cache.get(binding("cred-1"), envelope)
    # Same credential id and envelope, another owner: keyvault decides, and it refuses.
    with pytest.raises(CredentialUnusable):
        await cache.get(binding("cred-1", owner_id="intruder"), envelope)
    assert decrypt_calls(keyvault.audit_path) == 2


async def test_cache_is_bounded_least_recently_used_first_out(
    client: KeyVaultClient, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    cache = KeyCache(client, ttl_seconds=TTL, max_entries=2)
    envelopes = {name: await sealer(binding(name), f"sk-{name}") for name in ("a", "b", "c")}
    await cache.get(binding("a"), envelopes["a"])
    await cache.get(binding("b"), envelopes["b"])
    await cache.get(binding("a"), envelopes["a"])  # "a" is now the most recently used
    await cache.get(binding("c"), envelopes["c"])  # evicts "b"
    assert len(cache) == 2
    assert cache.stats.evictions == 1
    assert decrypt_calls(keyvault.audit_path) == 3
    await cache.get(binding("a"), envelopes["a"])
    await cache.get(binding("c"), envelopes["c"])
    assert decrypt_calls(keyvault.audit_path) == 3
    assert await cache.get(binding("b"), envelopes["b"]) == "sk-b"
    assert decrypt_calls(keyvault.audit_path) == 4


async def test_concurrent_gets_share_one_decrypt(
    cache: KeyCache, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    envelope = await sealer(binding("cred-1"), "sk-one")
    results = await asyncio.gather(*(cache.get(binding("cred-1"), envelope) for _ in range(50)))
    assert results == ["sk-one"] * 50
    assert decrypt_calls(keyvault.audit_path) == 1
    assert (cache.stats.decrypts, cache.stats.misses, cache.stats.coalesced) == (1, 50, 49)


async def test_concurrent_failures_share_one_decrypt_and_are_not_cached(
    cache: KeyCache, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    damaged = flipped(await sealer(binding("cred-1"), "sk-one"))
    results = await asyncio.gather(
        *(cache.get(binding("cred-1"), damaged) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(result, CredentialUnusable) for result in results)
    assert decrypt_calls(keyvault.audit_path) == 1
    with pytest.raises(CredentialUnusable):
        await cache.get(binding("cred-1"), damaged)
    assert decrypt_calls(keyvault.audit_path) == 2
    assert len(cache) == 0


async def test_a_waiter_giving_up_does_not_cancel_the_shared_decrypt(
    client: KeyVaultClient, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    held = HeldKeyVault(client)
    cache = KeyCache(held, ttl_seconds=TTL, max_entries=10)
    envelope = await sealer(binding("cred-1"), "sk-one")
    impatient = asyncio.create_task(cache.get(binding("cred-1"), envelope))
    patient = asyncio.create_task(cache.get(binding("cred-1"), envelope))
    await held.answered.wait()
    impatient.cancel()
    held.release.set()
    assert await patient == "sk-one"
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert decrypt_calls(keyvault.audit_path) == 1
    assert len(cache) == 1


async def test_purge_drops_the_key_and_refuses_the_credential(
    cache: KeyCache, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    revoked = await sealer(binding("cred-revoked"), "sk-revoked")
    kept = await sealer(binding("cred-kept"), "sk-kept")
    await cache.get(binding("cred-revoked"), revoked)
    await cache.get(binding("cred-kept"), kept)
    cache.purge("cred-revoked")
    assert len(cache) == 1
    # keyvault has not heard of this revocation (no event was published); the cache refuses anyway.
    with pytest.raises(CredentialUnusable):
        await cache.get(binding("cred-revoked"), revoked)
    assert await cache.get(binding("cred-kept"), kept) == "sk-kept"
    assert decrypt_calls(keyvault.audit_path) == 2
    cache.purge("cred-never-seen")  # harmless


async def test_bypass_neither_reads_nor_writes_the_cache(
    cache: KeyCache, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    envelope = await sealer(binding("cred-1"), "sk-one")
    await cache.get(binding("cred-1"), envelope)
    cache.bypass = True
    assert len(cache) == 0  # entering bypass flushes
    results = await asyncio.gather(*(cache.get(binding("cred-1"), envelope) for _ in range(5)))
    assert results == ["sk-one"] * 5
    assert decrypt_calls(keyvault.audit_path) == 6
    assert len(cache) == 0
    cache.bypass = False
    await cache.get(binding("cred-1"), envelope)
    await cache.get(binding("cred-1"), envelope)
    assert decrypt_calls(keyvault.audit_path) == 7


async def test_revocation_during_decrypt_wins(
    client: KeyVaultClient, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    """The race: keyvault answered before it knew, the revocation reaches the router before the
    answer does. The raced get() refuses, nothing is cached, later gets refuse without a Decrypt."""
    held = HeldKeyVault(client)
    cache = KeyCache(held, ttl_seconds=TTL, max_entries=10)
    envelope = await sealer(binding("cred-1"), "sk-raced")
    raced = asyncio.gather(
        *(cache.get(binding("cred-1"), envelope) for _ in range(3)), return_exceptions=True
    )
    await held.answered.wait()
    cache.purge("cred-1")
    held.release.set()
    results = await raced
    assert all(isinstance(result, CredentialUnusable) for result in results), results
    assert len(cache) == 0
    with pytest.raises(CredentialUnusable):
        await cache.get(binding("cred-1"), envelope)
    assert decrypt_calls(keyvault.audit_path) == 1


async def test_revocation_during_uncached_decrypt_wins(
    client: KeyVaultClient, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    held = HeldKeyVault(client)
    cache = KeyCache(held, ttl_seconds=TTL, max_entries=10)
    cache.bypass = True
    envelope = await sealer(binding("cred-1"), "sk-raced")
    raced = asyncio.create_task(cache.get(binding("cred-1"), envelope))
    await held.answered.wait()
    cache.purge("cred-1")
    held.release.set()
    with pytest.raises(CredentialUnusable):
        await raced


async def test_flush_during_decrypt_answers_but_stores_nothing(
    client: KeyVaultClient, sealer: Sealer, keyvault: RunningKeyVault
) -> None:
    held = HeldKeyVault(client)
    cache = KeyCache(held, ttl_seconds=TTL, max_entries=10)
    envelope = await sealer(binding("cred-1"), "sk-one")
    pending = asyncio.create_task(cache.get(binding("cred-1"), envelope))
    await held.answered.wait()
    cache.flush()
    held.release.set()
    assert await pending == "sk-one"
    assert len(cache) == 0


async def test_keyvault_down_cached_keys_last_until_their_ttl(
    test_pki: Pki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> None:
    settings = keyvault_settings(
        pki_=test_pki, keys_dir=keys_dir, nats_url=nats_server.url, audit_path=tmp_path / "audit.jsonl"
    )
    server = await started(settings)
    stopped = False
    clock = FakeClock()
    try:
        kid, public_key = await SupportClient(server.port, test_pki).public_key()
        cached = seal(b"sk-cached", public_key=public_key, kid=kid, binding=binding("cred-cached"))
        uncached = seal(b"sk-uncached", public_key=public_key, kid=kid, binding=binding("cred-uncached"))
        async with KeyVaultClient(f"localhost:{server.port}", test_pki.files["router"], 2.0) as client:
            cache = KeyCache(client, ttl_seconds=TTL, max_entries=10, clock=clock)
            assert await cache.get(binding("cred-cached"), cached) == "sk-cached"
            await server.stop(grace=0)
            stopped = True
            assert await cache.get(binding("cred-cached"), cached) == "sk-cached"
            with pytest.raises(KeyServiceUnavailable):
                await cache.get(binding("cred-uncached"), uncached)
            clock.now += TTL
            with pytest.raises(KeyServiceUnavailable):
                await cache.get(binding("cred-cached"), cached)
    finally:
        if not stopped:
            await server.stop(grace=0)


async def test_non_text_secret_is_unusable_and_not_kept_in_the_error(cache: KeyCache, sealer: Sealer) -> None:
    secret = b"\xff\xfe-binary-canary-" + uuid.uuid4().hex.encode()
    envelope = await sealer(binding("cred-binary"), secret)
    with pytest.raises(CredentialUnusable) as info:
        await cache.get(binding("cred-binary"), envelope)
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
    assert len(cache) == 0


async def test_secrets_never_appear_in_reprs_errors_or_logs(
    client: KeyVaultClient,
    cache: KeyCache,
    sealer: Sealer,
    keyvault: RunningKeyVault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = f"sk-canary-{uuid.uuid4().hex}"
    envelope = await sealer(binding("cred-canary"), canary)
    assert await cache.get(binding("cred-canary"), envelope) == canary

    errors: list[KeyResolutionError] = []
    for call in (
        client.decrypt(flipped(envelope), binding("cred-canary")),
        client.decrypt(envelope, binding("cred-canary", owner_id="other")),
    ):
        try:
            await call
        except KeyResolutionError as exc:
            errors.append(exc)
    held = HeldKeyVault(client)
    raced_cache = KeyCache(held, ttl_seconds=TTL, max_entries=10)
    raced = asyncio.create_task(raced_cache.get(binding("cred-canary"), envelope))
    await held.answered.wait()
    raced_cache.purge("cred-canary")
    held.release.set()
    with pytest.raises(CredentialUnusable) as raced_error:
        await raced
    errors.append(raced_error.value)
    async with KeyVaultClient(f"localhost:{free_port()}", keyvault.pki.files["router"], 1.0) as gone:
        with pytest.raises(KeyServiceUnavailable) as unavailable:
            await gone.decrypt(envelope, binding("cred-canary"))
    errors.append(unavailable.value)

    key = PlaintextKey(canary)
    texts = [
        repr(cache),
        str(cache),
        repr(cache.stats),
        repr(client),
        repr(key),
        str(key),
        f"{key}",
        repr(list(cache._entries.values())),
        repr(cache._entries),
        caplog.text,
        *(text for error in errors for text in (str(error), repr(error), repr(error.args))),
    ]
    envelope_forms = (envelope.hex(), repr(envelope)[2:40])
    for text in texts:
        assert canary not in text
        assert all(form not in text for form in envelope_forms)
    assert len(errors) == 4
    with pytest.raises(TypeError):
        pickle.dumps(key)
