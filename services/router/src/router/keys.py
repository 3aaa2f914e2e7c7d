"""The plaintext-key cache: the only place a decrypted provider key lives in the router.

Entries are keyed by (credential id, fingerprint), the fingerprint being SHA-256 over the binding
and the envelope, so a replaced envelope (or a different binding) never returns an old key. The
cache is bounded (least recently used first out) and every entry expires after the TTL; a TTL of 0
turns caching off.

Concurrent misses for the same key share one Decrypt (single flight). While uncached (TTL 0, or in
`bypass` because the revocation feed is not caught up) every get() is its own Decrypt.

Revocation (`purge`): a revoked credential id is refused forever by keyvault, so the cache also
remembers it (bounded, newest kept) and refuses it locally. That one record closes both races:
a Decrypt that was in flight when the revocation arrived raises CredentialUnusable instead of
returning or caching the key, and a Decrypt started after the purge cannot cache a key keyvault
handed out because its own copy of the revocation had not arrived yet.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, Protocol

from router.keyvault_client import CredentialUnusable
from switchyard_common.envelope import Binding

__all__ = ["CacheStats", "Decrypter", "KeyCache", "PlaintextKey", "fingerprint"]

CacheKey = tuple[str, bytes]


class Decrypter(Protocol):
    async def decrypt(self, envelope: bytes, binding: Binding) -> bytes: ...


class PlaintextKey:
    """A provider key in memory; its repr and str never show it, and it refuses to be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "PlaintextKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a plaintext key is not serialisable")


@dataclass(slots=True)
class CacheStats:
    """Counters for benchmarks and metrics: Decrypt calls made, hits, misses, joined flights."""

    decrypts: int = 0
    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    evictions: int = 0


@dataclass(slots=True)
class _Entry:
    key: PlaintextKey
    expires_at: float


class _Flight:
    """One Decrypt shared by every concurrent get() of the same key."""

    __slots__ = ("cacheable", "task")
    task: asyncio.Task[PlaintextKey]

    def __init__(self) -> None:
        # Cleared by flush(): the result still reaches its waiters but is not stored.
        self.cacheable = True


def fingerprint(binding: Binding, envelope: bytes) -> bytes:
    """SHA-256 over the binding's length-prefixed encoding followed by the envelope."""
    return hashlib.sha256(binding.encode() + envelope).digest()


class KeyCache:
    """Plaintext provider keys by credential and envelope: TTL, bounded, single flight."""

    def __init__(
        self,
        keyvault: Decrypter,
        *,
        ttl_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0 or max_entries <= 0:
            raise ValueError("ttl_seconds must be >= 0 and max_entries > 0")
        self._keyvault = keyvault
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._flights: dict[CacheKey, _Flight] = {}
        self._revoked: OrderedDict[str, None] = OrderedDict()
        self._bypass = False
        self.stats = CacheStats()

    def __repr__(self) -> str:
        return (
            f"KeyCache(entries={len(self._entries)}, max_entries={self._max_entries}, "
            f"ttl_seconds={self._ttl}, bypass={self._bypass}, stats={self.stats})"
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bypass(self) -> bool:
        """While set, get() neither reads nor writes the cache; entering it flushes everything."""
        return self._bypass

    @bypass.setter
    def bypass(self, value: bool) -> None:
        if value:
            self.flush()
        self._bypass = value

    @property
    def caching(self) -> bool:
        return self._ttl > 0 and not self._bypass

    async def get(self, credential: Binding, envelope: bytes) -> str:
        """The plaintext key for this credential and envelope, from cache or from keyvault."""
        credential_id = credential.credential_id
        if credential_id in self._revoked:
            raise CredentialUnusable()
        if not self.caching:
            self.stats.misses += 1
            return (await self._decrypt(credential, envelope)).reveal()
        cache_key = (credential_id, fingerprint(credential, envelope))
        entry = self._entries.get(cache_key)
        if entry is not None:
            if self._clock() < entry.expires_at:
                self._entries.move_to_end(cache_key)
                self.stats.hits += 1
                return entry.key.reveal()
            del self._entries[cache_key]
        self.stats.misses += 1
        flight = self._flights.get(cache_key)
        if flight is None:
            flight = self._start_flight(cache_key, credential, envelope)
        else:
            self.stats.coalesced += 1
        # Shielded: one caller giving up must not cancel the Decrypt the others are waiting for.
        return (await asyncio.shield(flight.task)).reveal()

    def purge(self, credential_id: str) -> None:
        """The credential was revoked: drop its keys now and refuse it from here on."""
        self._revoked[credential_id] = None
        self._revoked.move_to_end(credential_id)
        while len(self._revoked) > self._max_entries:
            self._revoked.popitem(last=False)
        for cache_key in [k for k in self._entries if k[0] == credential_id]:
            del self._entries[cache_key]
        for cache_key in [k for k in self._flights if k[0] == credential_id]:
            self._flights.pop(cache_key).cacheable = False

    def flush(self) -> None:
        """Drop every key; Decrypts in flight still answer their callers but store nothing."""
        self._entries.clear()
        for flight in self._flights.values():
            flight.cacheable = False
        self._flights.clear()

    def _start_flight(self, cache_key: CacheKey, credential: Binding, envelope: bytes) -> _Flight:
        flight = _Flight()
        flight.task = asyncio.create_task(self._fly(flight, cache_key, credential, envelope))
        flight.task.add_done_callback(_retrieve_exception)
        self._flights[cache_key] = flight
        return flight

    async def _fly(
        self, flight: _Flight, cache_key: CacheKey, credential: Binding, envelope: bytes
    ) -> PlaintextKey:
        try:
            key = await self._decrypt(credential, envelope)
        finally:
            if self._flights.get(cache_key) is flight:
                del self._flights[cache_key]
        if flight.cacheable and self.caching:
            self._store(cache_key, key)
        return key

    async def _decrypt(self, credential: Binding, envelope: bytes) -> PlaintextKey:
        """One Decrypt; refused if the credential was revoked while it was in flight."""
        self.stats.decrypts += 1
        secret = await self._keyvault.decrypt(envelope, credential)
        if credential.credential_id in self._revoked:
            raise CredentialUnusable()
        text = _utf8(secret)
        if text is None:
            raise CredentialUnusable("the stored credential is not UTF-8 text")
        return PlaintextKey(text)

    def _store(self, cache_key: CacheKey, key: PlaintextKey) -> None:
        self._entries[cache_key] = _Entry(key=key, expires_at=self._clock() + self._ttl)
        self._entries.move_to_end(cache_key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
            self.stats.evictions += 1


def _utf8(secret: bytes) -> str | None:
    # Outside the except block on purpose: a UnicodeDecodeError holds the whole secret, and a
    # CredentialUnusable raised inside it would keep it reachable as __context__.
    try:
        return secret.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _retrieve_exception(task: asyncio.Task[PlaintextKey]) -> None:
    # Every waiter may have given up; the failure is theirs to see, not the event loop's log.
    if not task.cancelled():
        task.exception()
