"""Waiting for an asyncio.Event with a timeout, without losing a cancellation.

Python 3.11's `asyncio.wait_for` can swallow a task's cancellation when the awaited event is set
at the moment the task is cancelled (CPython gh-86296, fixed in 3.12): the loop that called it
then runs on and `stop()` waits for ever. `asyncio.wait` never swallows a cancellation (it
cancels nothing itself), so every loop that sleeps "until woken or until the next round" uses
this.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set or `timeout` seconds passed; True when it was set."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=max(timeout, 0.0))
    finally:
        if not waiter.done():
            waiter.cancel()
    return event.is_set()
