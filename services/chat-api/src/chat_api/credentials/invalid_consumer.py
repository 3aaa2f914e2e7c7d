"""Marks credentials `invalid` when the router reports a provider rejection (skeleton)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from chat_api.events.nats_link import NatsLink

__all__ = ["InvalidKeyConsumer"]


class InvalidKeyConsumer:
    def __init__(self, *, sessions: sessionmaker[Session], nats: NatsLink) -> None:
        self._sessions = sessions
        self._nats = nats

    def start(self) -> None:
        """Begin consuming CredentialInvalid events (a durable consumer shared by all replicas)."""

    async def stop(self) -> None:
        """Stop consuming; unacknowledged events are redelivered to the next consumer."""
