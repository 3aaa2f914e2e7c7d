"""Per-user rate limits on chat and on adding or verifying keys: 429 `rate-limited` with Retry-After."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from chat_api.accounts.auth_cache import CachedAuth
from chat_api.accounts.models import User
from chat_api.api.deps import CurrentCaller, CurrentUser
from chat_api.core.config import Settings
from chat_api.core.problems import RateLimited
from chat_api.limits.buckets import TokenBuckets

__all__ = ["ChatCaller", "ChatUser", "RateLimits", "limit_key_checks"]


@dataclass(frozen=True)
class RateLimits:
    """The buckets of one replica; `app.state.rate_limits`."""

    chat: TokenBuckets
    key_checks: TokenBuckets

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> RateLimits:
        """The buckets `settings` asks for; `clock` is when refills happen (tests stop time)."""
        return cls(
            chat=TokenBuckets(
                per_minute=settings.chat_rate_per_minute, burst=settings.chat_rate_burst, clock=clock
            ),
            key_checks=TokenBuckets(
                per_minute=settings.key_check_rate_per_minute,
                burst=settings.key_check_rate_burst,
                clock=clock,
            ),
        )


def _limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


def _spend(buckets: TokenBuckets, user_id: uuid.UUID, what: str) -> None:
    wait = buckets.take(user_id)
    if wait > 0:
        raise RateLimited(f"too many {what} from this account; retry after {wait:.1f} s", retry_after=wait)


async def limit_chat_caller(request: Request, caller: CurrentCaller) -> CachedAuth:
    """The hot path's caller, after spending one chat token (no query, no thread hop)."""
    _spend(_limits(request).chat, caller.user_id, "chat requests")
    return caller


async def limit_chat_user(request: Request, user: CurrentUser) -> User:
    _spend(_limits(request).chat, user.id, "chat requests")
    return user


async def limit_key_checks(request: Request, user: CurrentUser) -> None:
    """Adding and verifying keys (each asks a provider or keyvault) share one bucket per user."""
    _spend(_limits(request).key_checks, user.id, "key additions and checks")


ChatCaller = Annotated[CachedAuth, Depends(limit_chat_caller)]
ChatUser = Annotated[User, Depends(limit_chat_user)]
