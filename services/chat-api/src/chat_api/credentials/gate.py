"""An in-process barrier between chat requests that picked up an owner's keys and a DELETE of one.

A request enters before it reads its credentials and leaves once the router has started the
provider call (or the request ended). A revocation marks the row `revoking_at`, then waits for the
requests that entered before that mark: later ones cannot see the key any more. On PostgreSQL the
rows' KEY SHARE locks give the same barrier across chat-api replicas; this gate covers the SQLite
dev database and makes the wait cheap in the common single-process case.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterable

__all__ = ["CredentialGate"]


class CredentialGate:
    def __init__(self) -> None:
        self._tickets = itertools.count(1)
        self._open: dict[int, frozenset[uuid.UUID]] = {}
        self._changed = threading.Condition()

    def enter(self, owners: Iterable[uuid.UUID]) -> int:
        with self._changed:
            ticket = next(self._tickets)
            self._open[ticket] = frozenset(owners)
            return ticket

    def leave(self, ticket: int) -> None:
        with self._changed:
            if self._open.pop(ticket, None) is not None:
                self._changed.notify_all()

    def wait_for_earlier(self, owner: uuid.UUID, timeout: float) -> bool:
        """Block until every request that entered before now for `owner` has left; False on timeout."""
        with self._changed:
            horizon = next(self._tickets)
            return self._changed.wait_for(
                lambda: not any(t < horizon and owner in owners for t, owners in self._open.items()),
                timeout=timeout,
            )

    @property
    def open_count(self) -> int:
        with self._changed:
            return len(self._open)
