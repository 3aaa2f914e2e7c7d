"""Bounded teardown: a stop that hangs fails its test with every pending task's stack, instead of
silently eating the suite's time budget."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable

TEARDOWN_SECONDS = 20.0


def _pending_task_stacks() -> str:
    out = io.StringIO()
    current = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is not current:
            out.write(f"--- {task.get_name()}\n")
            task.print_stack(file=out)
    return out.getvalue()


async def bounded(stop: Awaitable[None], what: str, seconds: float = TEARDOWN_SECONDS) -> None:
    try:
        async with asyncio.timeout(seconds):
            await stop
    except TimeoutError:
        raise AssertionError(
            f"stopping {what} took more than {seconds}s; pending tasks:\n{_pending_task_stacks()}"
        ) from None
