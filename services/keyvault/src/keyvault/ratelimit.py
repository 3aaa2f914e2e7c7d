"""A token bucket per caller identity.

Hand-written on purpose: ~20 lines, and keyvault's image admits no dependency beyond gRPC,
protobuf, cryptography, NATS and settings/logging libraries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RateLimiter"]


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    rate_per_second: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, identity: str) -> bool:
        """Take one token from `identity`'s bucket; False when it is empty."""
        now = self.clock()
        bucket = self._buckets.setdefault(identity, _Bucket(tokens=self.burst, updated=now))
        elapsed = now - bucket.updated
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate_per_second)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
