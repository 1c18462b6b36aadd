"""wait_event: woken, timed out, and never swallowing the caller's cancellation."""

from __future__ import annotations

import asyncio

from obt.core.waiting import wait_event


async def test_woken_or_timed_out() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True
    assert await wait_event(event, 0) is True


async def test_a_cancel_that_meets_the_wake_up_is_not_lost() -> None:
    # The race that makes Python 3.11's wait_for drop the cancellation: the event is set and the
    # waiting task cancelled in the same loop iteration. The loop must end, every time.
    for _ in range(50):
        event = asyncio.Event()
        rounds = 0

        async def loop(event: asyncio.Event = event) -> None:
            nonlocal rounds
            while True:
                await wait_event(event, 10)
                event.clear()
                rounds += 1

        task = asyncio.create_task(loop())
        await asyncio.sleep(0)
        event.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done and task.cancelled()
