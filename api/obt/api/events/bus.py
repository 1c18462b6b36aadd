"""Fan-out of committed changes to every SSE subscriber of this process.

On SQLite (one process) writers call `deliver` after commit. On PostgreSQL writers issue
`pg_notify` inside their transaction, so the notification leaves only if the transaction
commits, and every replica (this one included) receives it through `PgListener`.

Every event gets an id `<epoch>-<n>`: `epoch` names this process (random at start), `n` counts
up. The bus keeps the last `buffer_size` events so that a browser reconnecting with
`Last-Event-ID` gets what it missed (`replay`). Ids mean nothing to another replica or to this one
after a restart: a Last-Event-ID from another epoch, or older than the buffer, gets `resync` (the
client reloads what it shows). Behind a load balancer with several replicas, a reconnect that
lands on another replica therefore resyncs; one that lands on the same replica catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger(__name__)

CHANNEL = "obt_events"
# Slow browsers must not hold memory without bound: past this many queued events they are
# told to resync (a "resync" event) and their queue is dropped.
MAX_QUEUE = 1000
# Put in a subscriber's queue to end its stream (EventBus.drop_streams).
CLOSE: dict[str, Any] = {"type": "close"}


class StreamSlots:
    """Open streams per client address and in total: a stream takes a slot before its response
    starts and gives it back however it ends."""

    def __init__(self) -> None:
        self.total = 0
        self.by_client: dict[str, int] = {}

    def take(self, client: str, per_client: int, total: int) -> str | None:
        """None when taken, else why not."""
        if self.total >= total:
            return (
                f"too many live-event streams on this server ({total}, "
                "OBT_API__EVENTS__MAX_STREAMS)"
            )
        held = self.by_client.get(client, 0)
        if held >= per_client:
            return (
                f"too many live-event streams from this address ({per_client}, "
                "OBT_API__EVENTS__MAX_STREAMS_PER_CLIENT)"
            )
        self.total += 1
        self.by_client[client] = held + 1
        return None

    def give(self, client: str) -> None:
        self.total -= 1
        left = self.by_client.get(client, 1) - 1
        if left > 0:
            self.by_client[client] = left
        else:
            self.by_client.pop(client, None)


class EventBus:
    def __init__(self, buffer_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._ids = itertools.count(1)
        self.epoch = secrets.token_hex(4)
        self._recent: deque[dict[str, Any]] = deque(maxlen=max(0, buffer_size))
        self._last_id = 0
        self.streams = StreamSlots()

    def resync_event(self) -> dict[str, Any]:
        """`resync` for one client, carrying the latest id so that its next reconnect resumes."""
        return {"type": "resync", "id": self._last_id}

    def event_id(self, event: dict[str, Any]) -> str | None:
        """The SSE id of an event this bus delivered (None for one without a number)."""
        n = event.get("id")
        return f"{self.epoch}-{n}" if isinstance(n, int) else None

    def replay(self, last_event_id: str) -> list[dict[str, Any]] | None:
        """Events after `last_event_id` (`<epoch>-<n>`), or None when they cannot be told: an id
        from another process, a malformed one, or one older than the buffer (resync)."""
        epoch, _, number = last_event_id.strip().partition("-")
        if epoch != self.epoch or not number.isdigit():
            return None
        n = int(number)
        if n > self._last_id:
            return None
        if n == self._last_id:
            return []
        oldest = self._recent[0]["id"] if self._recent else self._last_id + 1
        if n + 1 < oldest:
            return None  # what followed n fell out of the buffer
        return [e for e in self._recent if e["id"] > n]

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener` with every event, synchronously, before the SSE subscribers get it:
        for this process's own bookkeeping (agents/ingest.py), not counted as a subscriber."""
        self._listeners.append(listener)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def deliver(self, event: dict[str, Any]) -> None:
        event = {**event, "id": next(self._ids)}
        self._last_id = event["id"]
        if self._recent.maxlen:
            self._recent.append(event)
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

    def drop_streams(self) -> None:
        """End every open stream (a test hook for lost connections)."""
        for queue in list(self._subscribers):
            queue.put_nowait(CLOSE)

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
