"""Background tasks' lifetime: one way to stop them."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["cancel_and_wait"]

# How often a task that is still running after its cancellation is cancelled again.
RECANCEL_SECONDS = 0.5


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` (if any) and wait until it has finished unwinding.

    A library may swallow a cancellation and carry on (a client's connect-retry loop with NATS down
    has hung shutdown this way), so a task still running is cancelled again until it ends.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        await task
