"""The revocation deny-list, rebuilt from the JetStream credential-events stream.

On every start keyvault replays the stream from the start of its retention (the shared
RevocationFeed, FeedStart.REPLAY), so each replica holds the whole list; it is `ready` only once it
has processed everything the stream held when it subscribed. Until then Decrypt is refused.

A NATS outage after that keeps keyvault serving with the list it has; on reconnect the feed
resumes from the first stream sequence not yet processed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from switchyard_common.revocation_feed import FeedStart, RevocationFeed

__all__ = ["RevocationList", "RevocationSync"]

logger = logging.getLogger(__name__)


class RevocationList:
    def __init__(self) -> None:
        self._revoked: set[str] = set()
        self._ready = asyncio.Event()

    def revoke(self, credential_id: str) -> None:
        self._revoked.add(credential_id)

    def is_revoked(self, credential_id: str) -> bool:
        return credential_id in self._revoked

    def mark_ready(self) -> None:
        self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def __len__(self) -> int:
        return len(self._revoked)


class RevocationSync:
    """Keeps a RevocationList fed from the whole stream; `on_ready` once it is caught up."""

    def __init__(
        self,
        revocations: RevocationList,
        *,
        servers: list[str],
        retention_days: float,
        on_ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._revocations = revocations
        self._on_ready = on_ready
        self._feed = RevocationFeed(
            servers=servers,
            retention_days=retention_days,
            client_name="keyvault",
            start=FeedStart.REPLAY,
            on_revoked=self._revoke,
            on_ready=self._caught_up,
        )

    def start(self) -> None:
        self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()

    async def _revoke(self, credential_id: str) -> None:
        self._revocations.revoke(credential_id)

    async def _caught_up(self) -> None:
        self._revocations.mark_ready()
        logger.info("revocation list caught up: %s revoked credentials", len(self._revocations))
        await self._on_ready()
