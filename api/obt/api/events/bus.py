"""Fan-out of committed changes to every SSE subscriber of this process.

On SQLite (one process) writers call `deliver` after commit. On PostgreSQL writers issue
`pg_notify` inside their transaction, so the notification leaves only if the transaction
commits, and every replica (this one included) receives it through `PgListener`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger(__name__)

CHANNEL = "obt_events"
# Slow browsers must not hold memory without bound: past this many queued events they are
# told to resync (a "resync" event) and their queue is dropped.
MAX_QUEUE = 1000


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._ids = itertools.count(1)

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener` with every event, synchronously, before the SSE subscribers get it:
        for this process's own bookkeeping (agents/ingest.py), not counted as a subscriber."""
        self._listeners.append(listener)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def deliver(self, event: dict[str, Any]) -> None:
        event = {**event, "id": next(self._ids)}
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.get("type"))
        for queue in list(self._subscribers):
            if queue.qsize() >= MAX_QUEUE:
                with contextlib.suppress(asyncio.QueueEmpty):
                    while True:
                        queue.get_nowait()
                queue.put_nowait({"type": "resync", "id": event["id"]})
            else:
                queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


class PgListener:
    """LISTEN on PostgreSQL and hand every notification to the local bus."""

    def __init__(self, dsn: str, bus: EventBus) -> None:
        self._dsn = dsn
        self._bus = bus
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-listener")
        await asyncio.wait_for(self.ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._bus.deliver(json.loads(payload))
        except ValueError:
            log.warning("ignoring a malformed notification on %s", CHANNEL)

    async def _run(self) -> None:
        import asyncpg

        delay = 0.5
        while True:
            try:
                conn = await asyncpg.connect(self._dsn)
                try:
                    await conn.add_listener(CHANNEL, self._on_notify)
                    self.ready.set()
                    delay = 0.5
                    # A lost connection would drop notifications silently: probe it.
                    while True:
                        await asyncio.sleep(5)
                        await conn.execute("SELECT 1")
                finally:
                    with contextlib.suppress(Exception):
                        await conn.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, delay)
                # Tell browsers they may have missed something.
                self._bus.deliver({"type": "resync"})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """postgresql+asyncpg://... -> postgresql://... for a raw asyncpg connection."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)
