"""Statuses of OllamaTasks, OllamaModelSets and OllamaBenchmarks, computed from the index and
written rate-limited.

The index marks a task, set or benchmark dirty whenever something its status depends on changes:
its own object, another set (prune reads every set), an OllamaNode's labels, phase, installed or
loaded models, or activity, or (benchmarks) an OllamaBenchmarkResult naming it. The `Aggregator`
computes each dirty object's status with the pure functions of obt.core.actions (`task_status`,
`modelset_status`, `benchmark_status`; the API's local reconciler uses the same ones)
and writes it only when it differs from the stored one, at most once per `min_interval` seconds per
object: a burst of node activity yields one write per second per object, carrying the latest state.
Finished tasks whose `ttlSecondsAfterFinished` has passed are deleted. Only the leader writes, and
only while it can see the API server; a replica that becomes able to write computes everything once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from obt.core.actions import (
    NodeFacts,
    benchmark_status,
    modelset_status,
    task_expired,
    task_status,
)
from obt.core.models import Condition
from obt.core.models.actions import (
    OllamaModelSet,
    OllamaModelSetStatus,
    OllamaTask,
    OllamaTaskStatus,
)
from obt.core.models.benchmark import (
    OllamaBenchmark,
    OllamaBenchmarkResultSpec,
    OllamaBenchmarkStatus,
)
from obt.core.waiting import wait_event
from obt.operator.index import (
    BENCHMARK,
    FINISHED_TASK_PHASES,
    RUNS_ONCE,
    FleetIndex,
    WorkEntry,
    WorkKind,
)
from obt.operator.metrics import OperatorMetrics

log = logging.getLogger(__name__)

MIN_WRITE_INTERVAL_SECONDS = 1.0
"""At most one status write per object per this many seconds."""
RESYNC_SECONDS = 30.0
"""Every task and set is computed again this often, for what depends on time alone (a failed pull
retried after a while, a node judged NotReady mid-task)."""
TICK_SECONDS = 1.0
"""The longest the loop sleeps: the TTL of finished tasks is checked this often."""
WRITE_CONCURRENCY = 8
"""Parallel status writes (a handful of tasks and sets change at once, not thousands)."""


class WorkWriter(Protocol):
    """What the aggregator writes; writer.py's `ClusterWriter` does it through the API server."""

    async def write_work_status(self, entry: WorkEntry, status: dict[str, Any]) -> bool:
        """Merge-patch `status` into the object's status subresource; True when written."""
        ...

    async def delete_task(self, entry: WorkEntry) -> bool:
        """Delete this very task (uid precondition); True when it is gone."""
        ...

    async def work_event(self, entry: WorkEntry, transition: Transition, now: datetime) -> None:
        """Post an Event about the object (best effort)."""
        ...


@dataclass(frozen=True)
class Transition:
    """A change worth an Event: a task or benchmark finished, a set became Ready or Degraded."""

    reason: str
    message: str
    type: str = "Normal"


def _condition_of(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def transition(entry: WorkEntry, patch: Mapping[str, Any]) -> Transition | None:
    """What changed from the stored status (`entry.status`) to the written one, if it is worth
    an Event: a task's or benchmark's end (Succeeded, Failed, Cancelled), a set turning Degraded
    or Ready."""
    new = {**entry.status, **patch}
    if entry.kind in RUNS_ONCE:
        phase = new.get("phase")
        if phase == entry.status.get("phase") or phase not in FINISHED_TASK_PHASES:
            return None
        failed = _condition_of(new, "Failed")
        complete = _condition_of(new, "Complete")
        if phase == "Failed":
            return Transition("Failed", str(failed.get("message") or "failed"), "Warning")
        return Transition(str(phase), str(complete.get("message") or phase))
    for kind, type_ in (("Degraded", "Warning"), ("Ready", "Normal")):
        now, before = _condition_of(new, kind), _condition_of(entry.status, kind)
        if now.get("status") == "True" and before.get("status") != "True":
            return Transition(str(now.get("reason") or kind), str(now.get("message") or ""), type_)
    return None


def _same_condition_time(
    stored: Mapping[str, Any], kind: str, status: str, reason: str, now: datetime
) -> datetime:
    """The stored condition's lastTransitionTime when it says the same, else now."""
    for condition in stored.get("conditions") or []:
        if (
            condition.get("type") == kind
            and condition.get("status") == status
            and condition.get("reason") == reason
        ):
            with contextlib.suppress(ValidationError):
                return Condition.model_validate(condition).last_transition_time
    return now


def invalid_status(entry: WorkEntry, now: datetime) -> dict[str, Any]:
    """What a task or set whose spec the contract rejects says about it (kubectl accepted it: the
    CRD's schema cannot hold every rule, e.g. nodes XOR nodeSelector)."""
    message = f"the spec is invalid, nothing runs: {entry.error}"[:1000]

    def condition(kind: str, status: str) -> dict[str, Any]:
        when = _same_condition_time(entry.status, kind, status, "InvalidSpec", now)
        return Condition(
            type=kind,
            status=status,
            reason="InvalidSpec",
            message=message,
            last_transition_time=when,
            observed_generation=entry.generation,
        ).to_wire()

    if entry.kind in RUNS_ONCE:
        return {
            "phase": "Failed",
            "observedGeneration": entry.generation,
            "conditions": [condition("Failed", "True")],
        }
    return {
        "observedGeneration": entry.generation,
        "conditions": [
            condition("Ready", "False"),
            condition("Progressing", "False"),
            condition("Degraded", "True"),
        ],
    }


WorkStatus = OllamaTaskStatus | OllamaModelSetStatus | OllamaBenchmarkStatus
Results = Sequence[tuple[str, OllamaBenchmarkResultSpec]]


def computed_status(
    entry: WorkEntry,
    facts: Mapping[str, NodeFacts],
    sets: Sequence[OllamaModelSet],
    now: datetime,
    results: Results = (),
) -> WorkStatus | dict[str, Any]:
    """The status the object should have now (a plain dict for an invalid spec). `results`: the
    OllamaBenchmarkResults naming a benchmark (others are ignored)."""
    if entry.obj is None:
        return invalid_status(entry, now)
    status: WorkStatus
    if isinstance(entry.obj, OllamaTask):
        status = task_status(entry.obj, facts, now)
    elif isinstance(entry.obj, OllamaBenchmark):
        status = benchmark_status(entry.obj, facts, results, now)
    else:
        status = modelset_status(entry.obj, facts, now, all_sets=sets)
    if status.observed_generation is None and entry.generation is not None:
        status = status.model_copy(update={"observed_generation": entry.generation})
    return status


def _stored_equals(entry: WorkEntry, status: WorkStatus) -> bool:
    try:
        stored = type(status).model_validate(entry.status)
    except ValidationError:
        return False
    return stored == status


def status_patch(
    entry: WorkEntry,
    facts: Mapping[str, NodeFacts],
    sets: Sequence[OllamaModelSet],
    now: datetime,
    results: Results = (),
) -> dict[str, Any] | None:
    """The merge patch for the object's status, or None when the stored status is current.
    Fields the new status leaves out are removed (null), lists are replaced whole."""
    status = computed_status(entry, facts, sets, now, results)
    if isinstance(status, dict):
        wire = status
        if all(entry.status.get(k) == v for k, v in wire.items()) and set(entry.status) <= set(
            wire
        ):
            return None
    else:
        if _stored_equals(entry, status):
            return None
        wire = status.to_wire()
    patch: dict[str, Any] = dict(wire)
    for key in entry.status:
        if key not in wire:
            patch[key] = None
    return patch


@dataclass
class Round:
    """What one round of the aggregator did (for tests and logs)."""

    computed: int = 0
    written: int = 0
    deleted: int = 0
    wait: float = TICK_SECONDS
    """Seconds until the next object may be written (at most TICK_SECONDS)."""


class Aggregator:
    """The aggregation loop. `may_write()` says whether this replica may write now (leader and not
    blind); `clock` is the operator's wall clock (statuses' times, TTL), `monotonic` the one the rate
    limit is measured on."""

    def __init__(
        self,
        index: FleetIndex,
        writer: WorkWriter,
        metrics: OperatorMetrics,
        *,
        may_write: Callable[[], bool],
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        min_interval: float = MIN_WRITE_INTERVAL_SECONDS,
        resync: float = RESYNC_SECONDS,
    ) -> None:
        self.index = index
        self.writer = writer
        self.metrics = metrics
        self.may_write = may_write
        self.now = clock
        self.monotonic = monotonic
        self.min_interval = min_interval
        self.resync = resync
        self.last_write: dict[tuple[WorkKind, str], float] = {}
        self.deleted: set[str] = set()
        """uids of tasks deleted for their TTL (the watch may still show them a moment)."""
        self.writing = False
        self.last_resync = 0.0
        self._wake = asyncio.Event()
        index.wake = self._wake.set

    def _due(self, mono: float) -> tuple[list[tuple[WorkKind, str]], float]:
        due: list[tuple[WorkKind, str]] = []
        wait = TICK_SECONDS
        for key in list(self.index.dirty):
            last = self.last_write.get(key)
            if last is not None and mono - last < self.min_interval:
                wait = min(wait, last + self.min_interval - mono)
                continue
            self.index.dirty.discard(key)
            due.append(key)
        return due, max(wait, 0.0)

    def _entry(self, key: tuple[WorkKind, str]) -> WorkEntry | None:
        kind, name = key
        entry = self.index.store(kind).get(name)
        return None if entry is None or entry.deleting else entry

    def _expired(self, now: datetime) -> list[WorkEntry]:
        out = []
        for entry in self.index.tasks.values():
            if (
                isinstance(entry.obj, OllamaTask)
                and entry.finished
                and not entry.deleting
                and entry.uid not in self.deleted
                and entry.obj.spec.ttl_seconds_after_finished is not None
                and task_expired(entry.obj, now)
            ):
                out.append(entry)
        return out

    def _forget_gone(self) -> None:
        for key in list(self.last_write):
            if self._entry(key) is None:
                del self.last_write[key]
        uids = {entry.uid for entry in self.index.tasks.values()}
        self.deleted &= uids

    async def run_once(self) -> Round:
        done = Round()
        if not self.index.listed or not self.may_write():
            self.writing = False
            return done
        mono = self.monotonic()
        if not self.writing or mono - self.last_resync >= self.resync:
            # Just became able to write (start, leadership, sight) or time to look at everything.
            self.writing = True
            self.last_resync = mono
            self.index.mark_all_work()
            self._forget_gone()
        now = self.now()
        due, done.wait = self._due(mono)
        facts = self.index.facts_by_name()
        sets = [e.obj for e in self.index.modelsets.values() if isinstance(e.obj, OllamaModelSet)]
        writes: list[tuple[WorkEntry, dict[str, Any]]] = []
        for key in due:
            entry = self._entry(key)
            if entry is None:
                continue
            done.computed += 1
            counted = self.index.results_of(entry.name) if entry.kind == BENCHMARK else ()
            try:
                patch = status_patch(entry, facts, sets, now, counted)
            except Exception:  # one bad object must not stop the others
                log.exception("could not compute the status of %s %s", *key)
                continue
            if patch is not None:
                writes.append((entry, patch))
        semaphore = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def write(entry: WorkEntry, patch: dict[str, Any]) -> bool:
            async with semaphore:
                # Counted from the request, written or not: a failing object is retried no faster.
                self.last_write[entry.key] = self.monotonic()
                written = await self.writer.write_work_status(entry, patch)
            if written:
                self.metrics.work_status_writes.labels(entry.kind).inc()
                change = transition(entry, patch)
                if change is not None:
                    await self.writer.work_event(entry, change, now)
            else:
                self.index.dirty.add(entry.key)
            return written

        results = await asyncio.gather(*(write(entry, patch) for entry, patch in writes))
        done.written = sum(results)
        for entry in self._expired(now):
            if await self.writer.delete_task(entry):
                self.deleted.add(entry.uid)
                self.metrics.tasks_deleted.inc()
                done.deleted += 1
        if writes:
            done.wait = min(done.wait, self.min_interval)
        return done

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = (await self.run_once()).wait
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad round must not stop the next
                log.exception("aggregation failed")
                wait = TICK_SECONDS
            await wait_event(self._wake, wait)
            # Whatever woke us, keep at most one round per 50 ms (a burst of events is one round).
            await asyncio.sleep(0.05)
