"""The replies being sent: how many, which are held for `release_held`, and how shutdown ends them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Traffic:
    """Counts replies in flight, holds streams until released, and signals every waiting reply to stop.

    A reply that waits (a late first byte, a stall, a hold) registers a stop signal, set when its client
    disconnects or when the simulator shuts down (`closing`), so no reply outlives the server.
    """

    def __init__(self) -> None:
        self.closing = False
        self.in_flight = 0
        self.held = 0
        self._stops: set[asyncio.Event] = set()
        self._release = asyncio.Event()  # replaced by each `release_held`

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Count one reply in flight for the duration."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    @contextlib.contextmanager
    def stop_signal(self) -> Iterator[asyncio.Event]:
        """A stop signal for one waiting reply, already set if the simulator is closing."""
        stop = asyncio.Event()
        if self.closing:
            stop.set()
        self._stops.add(stop)
        try:
            yield stop
        finally:
            self._stops.discard(stop)

    def open(self) -> None:
        self.closing = False

    def close(self) -> None:
        """Stop every waiting reply: the server is shutting down."""
        self.closing = True
        for stop in list(self._stops):
            stop.set()

    def release_held(self) -> int:
        """Let every held stream go on (how many there were); streams held later wait for the next call."""
        held = self.held
        self._release.set()
        self._release = asyncio.Event()
        return held

    async def hold(self, stop: asyncio.Event) -> bool:
        """Wait for `release_held`; True when `stop` (a disconnect, or shutdown) came first."""
        release = self._release
        self.held += 1
        waiters = [asyncio.ensure_future(release.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.held -= 1
            for waiter in waiters:
                waiter.cancel()
        return stop.is_set()
