"""One sweep over the fleet index: judge every OllamaNode, write what changed, remove the dead.

`plan_sweep` is pure (index + clock in, plan out) so the rules' wiring is tested without a cluster;
`run_sweep` carries a plan out through the API, only on the leader and only while it can see.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from obt.core.liveness import (
    LivenessConfig,
    RemovalGuard,
    Verdict,
    is_transition,
    judge_daemonset,
    judge_standalone,
    next_condition,
    removal_due,
    removals_allowed,
)
from obt.core.models import Condition
from obt.operator.index import FleetIndex, NodeEntry

if TYPE_CHECKING:
    from obt.operator.state import OperatorState

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
    silent = 0
    due: list[NodeEntry] = []
    for entry in index:
        if entry.deleting:
            continue
        verdict, silent_since = verdict_for(entry, index, now, config)
        if verdict is None:
            plan.phases[entry.phase or "Pending"] += 1
            continue
        plan.phases[verdict.phase] += 1
        if verdict.phase != "Ready":
            silent += 1
        conditions = next_condition(entry.conditions, verdict, now)
        if conditions is not None or entry.phase != verdict.phase:
            plan.changes.append(
                StatusChange(
                    entry,
                    verdict,
                    conditions if conditions is not None else entry.conditions,
                    is_transition(entry.conditions, verdict),
                )
            )
        if verdict.agent_gone and removal_due(silent_since, now, config):
            due.append(entry)
    plan.due = len(due)
    plan.guard = removals_allowed(
        silent, len(index), now - index.baseline, removals_last_minute, config
    )
    if due and plan.guard.allowed:
        room = config.max_removals_per_minute - removals_last_minute
        plan.removals = due[: max(0, room)]
    return plan


async def run_sweep(state: OperatorState) -> SweepPlan | None:
    """Judge the fleet once. Followers and a blind leader plan (to keep their clocks) but write nothing."""
    if not state.index.listed:
        return None
    now = state.now()
    removals_window = [t for t in state.removal_times if now - t < timedelta(minutes=1)]
    state.removal_times[:] = removals_window
    plan = plan_sweep(state.index, now, state.config, len(removals_window))
    state.metrics.observe_plan(plan)
    if not state.may_write():
        return plan
    semaphore = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def write(change: StatusChange) -> None:
        async with semaphore:
            await state.write_status(change, now)

    await asyncio.gather(*(write(change) for change in plan.changes))
    await state.note_guard(plan)
    for entry in plan.removals:
        await state.remove(entry, now)
    return plan
