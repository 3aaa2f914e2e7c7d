"""Token buckets keyed by user, in memory on each replica: a dict lookup and some arithmetic."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

__all__ = ["TokenBuckets"]


class TokenBuckets:
    """One bucket per key: `per_minute` tokens a minute, at most `burst` saved up; 0 a minute is off.

    Used from the event loop only (async dependencies), so it needs no lock. At most `max_keys`
    buckets are kept: past that, buckets that have refilled (equal to a fresh one) are dropped, and
    if none has, the oldest half.
    """

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(max(1, burst))
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def take(self, key: Hashable) -> float:
        """Spend one token of `key`'s bucket: 0.0 if there was one, else the seconds until there is."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        saved = self._buckets.get(key)
        tokens = self._burst if saved is None else min(self._burst, saved[0] + (now - saved[1]) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if saved is None and len(self._buckets) > self._max_keys:
                self._prune(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self._rate

    def _prune(self, now: float) -> None:
        refill = self._burst / self._rate
        kept = {key: saved for key, saved in self._buckets.items() if now - saved[1] < refill}
        if len(kept) > self._max_keys // 2:
            kept = dict(list(kept.items())[len(kept) // 2 :])
        self._buckets = kept
