"""Local mode's aggregation (cluster mode: the operator does this): task and model-set status
from the nodes' inventory and activity, written only when it changed, and TTL cleanup.

A round reads every node, task and set and computes each status with the pure functions of
obt.core.actions. Rounds run when something that feeds them changed (a task or set written, a
node's inventory or activity: the bus's events), at most one per `min_interval_s` (so a status is
written at most once per second per object), and every `sweep_interval_s` regardless (TTLs,
retry timers, nodes gone quiet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from obt.api.actions.store import MODELSET, TASK, ActionStore
from obt.api.db.tables import Node
from obt.api.nodes.store import utcnow
from obt.core.actions import NodeFacts, modelset_status, task_expired, task_status
from obt.core.models import OllamaNode
from obt.core.waiting import wait_event

log = logging.getLogger(__name__)

# Events after which a round may compute something new. Status events of tasks and sets are the
# reconciler's own writes: they change no input.
_INPUTS = frozenset(
    {
        "task.changed",
        "modelset.changed",
        "node.upserted",
        "node.deleted",
        "models.changed",
        "resync",
    }
)


def _work_moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether agents' assignments change with this status: who is admitted, or the phase (a
    finished task leaves the work list)."""
    return before.get("admitted") != after.get("admitted") or before.get("phase") != after.get(
        "phase"
    )


class NodeFactsCache:
    """Every node as the planner sees it, re-read only for the rows written since the last
    round (by `updated_at`): a round over a large fleet reads names and times, then the few
    nodes that changed."""

    def __init__(self) -> None:
        self._facts: dict[str, tuple[datetime, NodeFacts]] = {}

    async def read(self, sessions: async_sessionmaker[AsyncSession]) -> dict[str, NodeFacts]:
        async with sessions() as session:
            stamps = dict((await session.execute(select(Node.name, Node.updated_at))).all())
            stale = [n for n, at in stamps.items() if self._facts.get(n, (None,))[0] != at]
            for start in range(0, len(stale), 500):
                chunk = stale[start : start + 500]
                rows = await session.execute(
                    select(Node.name, Node.updated_at, Node.labels, Node.spec, Node.status).where(
                        Node.name.in_(chunk)
                    )
                )
                for name, at, labels, spec, status in rows.all():
                    facts = _facts(name, labels, spec, status)
                    if facts is not None:
                        self._facts[name] = (at, facts)
        for name in [n for n in self._facts if n not in stamps]:
            del self._facts[name]
        return {name: facts for name, (_, facts) in self._facts.items()}


def _facts(name: str, labels: Any, spec: Any, status: Any) -> NodeFacts | None:
    try:
        node = OllamaNode.model_validate(
            {"metadata": {"name": name, "labels": labels or {}}, "spec": spec, "status": status}
        )
    except ValueError as exc:
        log.warning("node %s: unreadable row skipped (%s)", name, exc)
        return None
    return NodeFacts.from_node(node)


class LocalReconciler:
    def __init__(
        self,
        store: ActionStore,
        *,
        min_interval_s: float = 1.0,
        sweep_interval_s: float = 30.0,
    ) -> None:
        self.store = store
        self.min_interval_s = min_interval_s
        self.sweep_interval_s = sweep_interval_s
        self.rounds = 0
        self.nodes = NodeFactsCache()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        store.bus.listen(self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") in _INPUTS and event.get("change") != "status":
            self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._wake.set()  # a first round at start-up
        self._task = asyncio.create_task(self._loop(), name="local-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await wait_event(self._wake, self.sweep_interval_s)
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("local reconciler round failed; retrying next round")
            # The rate limit: one round, so at most one status write per object, per interval.
            await asyncio.sleep(self.min_interval_s)

    async def run_once(self, now: datetime | None = None) -> int:
        """One round; returns the statuses written (and tasks deleted)."""
        now = now or utcnow()
        self.rounds += 1
        tasks = await self.store.tasks()
        sets = await self.store.model_sets()
        if not tasks and not sets:
            return 0  # nothing to aggregate: the nodes need not be read
        nodes = await self.nodes.read(self.store.sessions)
        written = 0
        for task in tasks:
            name = task.metadata.name
            if task_expired(task, now):
                if await self.store.delete(TASK, name):
                    log.info("task %s: ttlSecondsAfterFinished passed, deleted", name)
                    written += 1
                continue
            before = task.status.to_wire()
            after = task_status(task, nodes, now).to_wire()
            if after != before and await self.store.set_status(
                TASK,
                name,
                after,
                work=_work_moved(before, after),
                generation=task.metadata.generation or 1,
            ):
                written += 1
        for mset in sets:
            before = mset.status.to_wire()
            after = modelset_status(mset, nodes, now, all_sets=sets).to_wire()
            if after != before and await self.store.set_status(
                MODELSET,
                mset.metadata.name,
                after,
                work=_work_moved(before, after),
                generation=mset.metadata.generation or 1,
            ):
                written += 1
        return written
