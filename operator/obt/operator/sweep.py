"""The sweep: judge every OllamaNode in the index, write what changed, remove the dead.

`plan_sweep` is pure (index + clock in, plan out) so the rules' wiring is tested without a cluster;
`Sweeper` carries plans out through a `Writer` (writer.py in production), only on the leader and
only while it can see the API server. The judge -> guard -> rate-limited removal sequence itself is
obt.core.liveness's (`plan_removals`), shared with the API's local mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from obt.core.liveness import (
    Judged,
    LivenessConfig,
    RemovalGuard,
    RemovalWindow,
    Verdict,
    is_transition,
    judge_daemonset,
    judge_standalone,
    plan_removals,
    status_update,
)
from obt.core.models import Condition
from obt.operator.index import FleetIndex, NodeEntry
from obt.operator.metrics import PHASES, OperatorMetrics

log = logging.getLogger(__name__)

WRITE_CONCURRENCY = 16
"""Parallel status writes: enough to write thousands of transitions in seconds, few enough not to
flood the API server after a fleet-wide event."""


@dataclass
class StatusChange:
    entry: NodeEntry
    verdict: Verdict
    conditions: list[Condition]
    transition: bool
    """The Ready status itself changed (worth an Event), not only its reason or message."""


@dataclass
class SweepPlan:
    changes: list[StatusChange] = field(default_factory=list)
    removals: list[NodeEntry] = field(default_factory=list)
    guard: RemovalGuard | None = None
    due: int = 0
    phases: Counter[str] = field(default_factory=Counter)


class Writer(Protocol):
    """What a sweep writes; writer.py's `ClusterWriter` does it through the API server."""

    async def write_status(self, change: StatusChange, now: datetime) -> None: ...

    async def remove(self, entry: NodeEntry, now: datetime) -> bool:
        """True when the node was removed (the rate limit counts it)."""
        ...

    async def note_guard(self, guard: RemovalGuard | None, now: datetime) -> None:
        """Called once per sweep with the removal guard's verdict."""
        ...


def verdict_for(
    entry: NodeEntry, index: FleetIndex, now: datetime, config: LivenessConfig
) -> tuple[Verdict | None, datetime | None]:
    """(verdict, silent_since) for one node; verdict None means "not judged yet, hold"."""
    if entry.source == "standalone":
        lease = index.leases.get(entry.name)
        observed = lease.observed_at if lease is not None else None
        if observed is None:
            # No renewal seen since our baseline: we have not watched a full window yet, so we
            # neither call it Ready (it may be long dead) nor NotReady (we may just have started).
            if (now - index.baseline).total_seconds() < config.standalone_not_ready_after_seconds:
                return None, None
            observed = index.baseline
        verdict = judge_standalone(observed, now, config)
        return verdict, observed if verdict.agent_gone else None
    pod = index.agent_pod(entry.node_name)
    verdict = judge_daemonset(
        index.node_ready.get(entry.node_name),
        pod.ready if pod is not None else None,
        pod is not None,
        node_name=entry.node_name,
        pod_name=pod.name if pod is not None else "",
    )
    if verdict.agent_gone:
        return verdict, index.missing_since.setdefault(entry.name, now)
    index.missing_since.pop(entry.name, None)
    return verdict, None


def plan_sweep(
    index: FleetIndex, now: datetime, config: LivenessConfig, removals_last_minute: int = 0
) -> SweepPlan:
    plan = SweepPlan()
    judged: list[Judged[NodeEntry]] = []
    for entry in index:
        if entry.deleting:
            continue
        verdict, silent_since = verdict_for(entry, index, now, config)
        if verdict is None:
            plan.phases[entry.phase or "Pending"] += 1
            continue
        plan.phases[verdict.phase] += 1
        conditions = status_update(entry.conditions, entry.phase, verdict, now)
        if conditions is not None:
            plan.changes.append(
                StatusChange(entry, verdict, conditions, is_transition(entry.conditions, verdict))
            )
        judged.append(Judged(entry, verdict, silent_since))
    removal = plan_removals(
        judged, len(index), now - index.baseline, now, removals_last_minute, config
    )
    plan.due = len(removal.due)
    plan.guard = removal.guard
    plan.removals = removal.removals
    return plan


def observe_plan(metrics: OperatorMetrics, plan: SweepPlan) -> None:
    for phase in PHASES:
        metrics.nodes.labels(phase).set(plan.phases.get(phase, 0))
    blocked = plan.due - len(plan.removals)
    guard = plan.guard.reason if plan.guard is not None else "Allowed"
    metrics.removals_blocked.clear()
    if blocked:
        metrics.removals_blocked.labels(guard).set(blocked)


class Sweeper:
    """The sweep loop and its gates. `last_answer()` is the monotonic time of the API server's last
    answer (KubeClient.last_ok); `is_leader()` says whether this replica may write."""

    def __init__(
        self,
        index: FleetIndex,
        config: LivenessConfig,
        writer: Writer,
        metrics: OperatorMetrics,
        *,
        last_answer: Callable[[], float],
        is_leader: Callable[[], bool],
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.config = config
        self.writer = writer
        self.metrics = metrics
        self.last_answer = last_answer
        self.is_leader = is_leader
        self.now = clock
        self.monotonic = monotonic
        self.removals = RemovalWindow()
        self.blind = False

    def check_sight(self) -> bool:
        """True while we can see the API server. Coming back from a blind spell restarts every
        silence clock: our blindness is not the nodes' silence."""
        blind = self.monotonic() - self.last_answer() > self.config.blind_after_seconds
        if blind and not self.blind:
            log.warning("API server unreachable: judging nothing until it answers again")
        elif self.blind and not blind:
            log.warning("API server reachable again: silence clocks restart, grace applies")
            self.index.reset_clocks(self.now())
        self.blind = blind
        self.metrics.blind.set(1 if blind else 0)
        return not blind

    def may_write(self) -> bool:
        leader = self.is_leader()
        self.metrics.leader.set(1 if leader else 0)
        return leader and not self.blind

    async def run_once(self) -> SweepPlan | None:
        """Judge the fleet once. Followers and a blind leader plan (to keep their clocks) but
        write nothing."""
        if not self.index.listed:
            return None
        now = self.now()
        plan = plan_sweep(self.index, now, self.config, self.removals.count(now))
        observe_plan(self.metrics, plan)
        if not self.may_write():
            return plan
        semaphore = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def write(change: StatusChange) -> None:
            async with semaphore:
                await self.writer.write_status(change, now)

        await asyncio.gather(*(write(change) for change in plan.changes))
        await self.writer.note_guard(plan.guard, now)
        for entry in plan.removals:
            if await self.writer.remove(entry, now):
                self.removals.record(now)
        return plan

    async def run_forever(self) -> None:
        interval = self.config.sweep_interval_seconds
        while True:
            started = self.monotonic()
            try:
                if self.check_sight():
                    await self.run_once()
                else:
                    self.may_write()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad sweep must not stop the next
                log.exception("sweep failed")
            elapsed = self.monotonic() - started
            self.metrics.sweep_seconds.observe(elapsed)
            self.metrics.last_sweep = time.monotonic()
            await asyncio.sleep(max(0.0, interval - elapsed))
