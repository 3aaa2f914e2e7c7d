"""Keeps the router's KeyCache honest with the credential-revocation stream.

A revocation purges the credential at once. The cache may only serve keys while the feed is caught
up: it starts in bypass (every request asks keyvault, which checks its own deny-list), leaves it
when the feed first catches up, and is flushed and bypassed again whenever the NATS connection
drops, until the feed has replayed everything it missed.

The feed starts at the end of the stream (FeedStart.NEW): the cache starts empty, so older
revocations have nothing to purge here, and keyvault refuses those credentials anyway. After a
reconnect it resumes from the last stream sequence it processed, never from "new", so revocations
published while the router was cut off are still applied before caching resumes.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext

from router.keys import KeyCache
from switchyard_common.revocation_feed import FeedStart, RevocationFeed

__all__ = ["RevocationSync"]

logger = logging.getLogger(__name__)


class RevocationSync:
    """Wires one RevocationFeed to a KeyCache; `start()` it with the server, `stop()` on shutdown."""

    def __init__(
        self,
        cache: KeyCache,
        *,
        servers: list[str],
        retention_days: float,
        reconnect_delay: float = 1.0,
    ) -> None:
        self._cache = cache
        self._cache.bypass = True
        self._feed = RevocationFeed(
            servers=servers,
            retention_days=retention_days,
            client_name="router",
            start=FeedStart.NEW,
            on_revoked=self._revoked,
            on_ready=self._caught_up,
            on_disconnected=self._disconnected,
            on_reconnected_and_caught_up=self._caught_up,
            reconnect_delay=reconnect_delay,
        )

    @property
    def healthy(self) -> bool:
        """Caught up on a live connection: the cache is in use."""
        return self._feed.healthy

    def jetstream(self) -> JetStreamContext | None:
        """The feed's NATS connection, shared for publishing credential events."""
        return self._feed.jetstream()

    def start(self) -> None:
        self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()
        self._cache.bypass = True

    async def _revoked(self, credential_id: str) -> None:
        self._cache.purge(credential_id)
        # The id only, never key material: tells an operator (and `make bench-revocation`) the moment
        # this replica stopped serving the credential.
        logger.info("credential purged", extra={"credential_id": credential_id})

    async def _caught_up(self) -> None:
        self._cache.bypass = False
        logger.info("revocation feed caught up: key cache in use")

    async def _disconnected(self) -> None:
        self._cache.bypass = True
        logger.warning("revocation feed interrupted: key cache flushed, every request asks keyvault")
