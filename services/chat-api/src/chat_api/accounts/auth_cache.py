"""A short-lived, bounded in-memory cache of authenticated tokens, so the chat hot path skips a query.

Keyed by the token's SHA-256 digest (the token itself is never kept). A hit still checks the
token's expiry. Logout and revocation on this replica purge the entry at once; another replica
may accept a revoked token for at most `auth_cache_seconds` longer.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from chat_api.core.columns import utcnow

__all__ = ["AuthCache", "CachedAuth"]


@dataclass(frozen=True, slots=True)
class CachedAuth:
    """Who a live token belongs to, as far as the chat path needs it."""

    user_id: uuid.UUID
    token_id: uuid.UUID
    kind: str
    expires_at: datetime


class AuthCache:
    """A thread-safe LRU of token digest → `CachedAuth`, each entry trusted for `ttl` seconds."""

    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[float, CachedAuth]] = OrderedDict()
        self._lock = threading.Lock()
        self._revocations = 0

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    @property
    def epoch(self) -> int:
        """Take before reading a token from the database and pass to `put()`."""
        with self._lock:
            return self._revocations

    def get(self, digest: bytes) -> CachedAuth | None:
        """The cached, unexpired auth of this token digest, if any."""
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            stored, auth = entry
            if time.monotonic() - stored >= self._ttl or auth.expires_at <= utcnow():
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return auth

    def put(self, digest: bytes, auth: CachedAuth, *, epoch: int) -> None:
        """Cache what was read since `epoch`, unless a token was revoked meanwhile (it may be this one)."""
        if not self.enabled:
            return
        with self._lock:
            if epoch != self._revocations:
                return
            self._entries[digest] = (time.monotonic(), auth)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def forget_token(self, token_id: uuid.UUID) -> None:
        """Purge a revoked token (revocations are rare, so a scan is fine)."""
        with self._lock:
            self._revocations += 1
            for digest in [d for d, (_, auth) in self._entries.items() if auth.token_id == token_id]:
                del self._entries[digest]

    def clear(self) -> None:
        with self._lock:
            self._revocations += 1
            self._entries.clear()
