"""Publishes outbox events to JetStream until acknowledged (skeleton; implemented with the keys API)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from chat_api.events.nats_link import NatsLink

__all__ = ["OutboxRelay"]


class OutboxRelay:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        nats: NatsLink,
        retry_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._nats = nats
        self._retry_seconds = retry_seconds
        self._retry_max_seconds = retry_max_seconds

    def start(self) -> None:
        """Begin the background loop that retries unpublished events."""

    async def stop(self) -> None:
        """Stop the loop; unpublished events stay in the table for the next start."""

    async def publish_now(self, event_ids: Sequence[uuid.UUID], *, within: float) -> bool:
        """One immediate attempt for these events; True when JetStream acknowledged them all."""
        return False
