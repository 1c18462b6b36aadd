"""Local mode's aggregator of benchmarks (cluster mode: the operator does it): computes each
open benchmark's status with obt.core.actions.benchmark_status from the nodes' activity and the
stored results, and writes it only when it changed, at most once per second per benchmark.

Woken by the events that can change a status (a result stored, a benchmark written, a node
changed), and every few seconds anyway (a node's activity alone raises no event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from obt.api.benchmarks import store
from obt.api.db.engine import write_session
from obt.api.db.tables import BenchmarkRow, Node
from obt.api.events.bus import EventBus
from obt.core.actions import NodeFacts, benchmark_status
from obt.core.models.node import OllamaNodeStatus
from obt.core.waiting import wait_event

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 1.0  # per benchmark, between two status writes
IDLE_POLL_S = 5.0


def facts_of(row: Node) -> NodeFacts:
    """What planning needs of a node row (its status JSON is the OllamaNode's status)."""
    try:
        status = OllamaNodeStatus.model_validate(row.status or {})
    except ValidationError:
        return NodeFacts(name=row.name, labels=dict(row.labels or {}))
    ollama = status.ollama
    return NodeFacts(
        name=row.name,
        labels=dict(row.labels or {}),
        ready=row.phase in ("Pending", "Ready"),
        installed={m.name: m.digest for m in ollama.models} if ollama else {},
        loaded=frozenset(m.name for m in ollama.loaded) if ollama else frozenset(),
        activity=tuple(status.activity or ()),
    )


async def node_facts(session: AsyncSession) -> dict[str, NodeFacts]:
    rows = (await session.execute(select(Node))).scalars()
    return {row.name: facts_of(row) for row in rows}


class BenchmarkReconciler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        dialect: str,
        *,
        min_interval_s: float = MIN_INTERVAL_S,
        idle_poll_s: float = IDLE_POLL_S,
    ) -> None:
        self.sessions = sessions
        self.announcer = store.Announcer(bus, dialect)
        self.min_interval_s = min_interval_s
        self.idle_poll_s = idle_poll_s
        self.writes = 0
        self._last_write: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        bus.listen(self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if kind != "benchmark.progress" and kind.startswith(("benchmark.", "node.")):
            self.wake()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="benchmark-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await wait_event(self._wake, self.idle_poll_s)
            self._wake.clear()
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("benchmark reconciler: pass failed; trying again")
            await asyncio.sleep(self.min_interval_s)

    async def reconcile(self) -> int:
        """One pass over the open benchmarks; returns the statuses written."""
        now_mono = time.monotonic()
        written = 0
        async with self.sessions() as session:
            benches = await store.open_benchmarks(session)
            if not benches:
                return 0
            nodes = await node_facts(session)
            results = {
                b.metadata.name: await store.results_of(session, b.metadata.name) for b in benches
            }
        for bench in benches:
            name = bench.metadata.name
            if now_mono - self._last_write.get(name, -1e9) < self.min_interval_s:
                self.wake()  # come back for it
                continue
            status = benchmark_status(bench, nodes, results[name], store.utcnow())
            if status == bench.status:
                continue
            async with write_session(self.sessions) as session:
                row = await session.get(BenchmarkRow, name)
                if row is None or row.uid != (bench.metadata.uid or ""):
                    continue
                row.status = status.model_dump(mode="json", by_alias=True, exclude_none=True)
                row.phase = status.phase
                row.updated_at = store.utcnow()
                events = [store.progress_event(name, status)]
                await self.announcer.queue(session, events)
            self.announcer.delivered(events)
            self._last_write[name] = time.monotonic()
            self.writes += 1
            written += 1
        return written
