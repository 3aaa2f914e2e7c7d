"""cancel_and_wait ends a background task even when its code swallows a cancellation."""

from __future__ import annotations

import asyncio

from chat_api.core.tasks import cancel_and_wait


async def test_a_task_that_swallows_one_cancellation_still_ends() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task), timeout=10)
    assert task.cancelled()
    assert swallowed == 2


async def test_an_ordinary_task_is_cancelled_once_and_none_is_nothing() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()
    await cancel_and_wait(None)
