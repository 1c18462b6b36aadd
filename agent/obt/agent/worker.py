"""The agent's work loop: plan what this node should do for tasks and model sets, do it against
the local Ollama, and report progress as the node's `status.activity` (docs/agent.md, "Acting on
models").

- Planning is `obt.core.actions.node_steps` over the node's facts (labels, what is installed and
  loaded, its own activity) and the tasks and sets that may concern it; the reporter of the mode
  (Kubernetes watches, or the API's /work answer) hands those in with `set_work`.
- Pulls run one at a time (they share the node's bandwidth and disk); loads, unloads and deletes
  run one at a time beside them. A pull that fails mid-way (connection dropped, 5xx, stream ended
  without success) is retried with capped exponential back-off, and resumes: Ollama keeps partial
  blobs. An error the registry gives ("file does not exist") is not retried.
- Cancelling: when the task or set a running step came from is deleted (or re-created: another
  uid), or a task gets `spec.cancel`, the step stops (a pull's stream is closed) and ends
  Cancelled.
- Writes: the activity list goes to the sink at most once per `write_interval` while anything
  changes (a step's start and end included, coalesced), and never while idle.

Time is injectable (`clock`, `now`, `sleep`) like runner.py, so tests do not wait.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Protocol

from obt.agent.bench import BenchSupport
from obt.agent.ollama_ops import OllamaOps, OpFailed, PullProgress
from obt.core.actions import NodeFacts, Step, merge_activity, node_steps
from obt.core.backoff import Backoff
from obt.core.models.actions import MAX_MESSAGE, OllamaModelSet, OllamaTask, same_digest
from obt.core.models.activity import Activity
from obt.core.models.benchmark import OllamaBenchmark
from obt.core.report import AgentReport

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]
# The actions this worker carries out (benchmark steps are not planned here: no benchmarks are
# passed to the planner).
ACTIONS = frozenset({"pull", "delete", "load", "unload"})
Planner = Callable[
    [NodeFacts, Sequence[OllamaTask], Sequence[OllamaModelSet], datetime], list[Step]
]


class ActivitySink(Protocol):
    async def __call__(self, activity: list[Activity]) -> None: ...


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Worker:
    def __init__(
        self,
        ops: OllamaOps,
        node_name: str,
        sink: ActivitySink,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        write_interval: float = 5.0,
        pull_attempts: int = 5,
        backoff_base: float = 2.0,
        backoff_cap: float = 60.0,
        rng: random.Random | None = None,
        planner: Planner = node_steps,
    ) -> None:
        self.ops = ops
        self.node_name = node_name
        self.sink = sink
        self.clock = clock
        self.now = now
        self.sleep = sleep
        self.write_interval = write_interval
        self.pull_attempts = pull_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rng = rng or random.Random()
        self.planner = planner
        self.activity: list[Activity] = []
        self.labels: Mapping[str, str] = {}
        self.tasks: list[OllamaTask] | None = None  # None: the work is not known yet
        self.sets: list[OllamaModelSet] = []
        # Benchmarks (docs/agent.md "Benchmarks"): None until the mode's source knows them, so
        # a benchmark step is never cancelled for a list that has not arrived.
        self.benchmarks: list[OllamaBenchmark] | None = None
        self.bench: BenchSupport | None = None
        self.report: AgentReport | None = None  # the latest detection (benchmarks need it)
        self.results: dict[Key, str] = {}  # benchmark step -> the result it wrote
        self.installed: dict[str, str | None] = {}
        self.loaded: set[str] = set()
        self.inventory_stale = True
        self.inventory_known = False
        self._inventory_failing = False
        self.running: dict[Key, asyncio.Task[None]] = {}
        self.progress: dict[Key, PullProgress] = {}
        self.cancel_reasons: dict[Key, str] = {}
        self.dirty = False
        self.last_write = -float("inf")
        self.writes = 0
        self.steps_finished = 0  # the reporter detects early when this moves
        self._finished_seen = 0
        self.wakeup = asyncio.Event()  # set when a step ends: the loop should come round

    # Inputs -----------------------------------------------------------------------------------

    def restore(self, stored: Sequence[Activity]) -> None:
        """The activity stored before a restart (a pull in flight then is planned again and
        resumes)."""
        if not self.activity:
            self.activity = list(stored)

    def set_work(
        self,
        labels: Mapping[str, str],
        tasks: Sequence[OllamaTask],
        sets: Sequence[OllamaModelSet],
    ) -> None:
        self.labels = dict(labels)
        self.tasks = list(tasks)
        self.sets = list(sets)

    def set_benchmarks(self, benchmarks: Sequence[OllamaBenchmark] | None) -> None:
        self.benchmarks = None if benchmarks is None else list(benchmarks)

    def set_report(self, report: AgentReport) -> None:
        """The latest detection: a benchmark reads the node's hardware from it."""
        self.report = report

    def set_loaded(self, loaded: Sequence[str]) -> None:
        """What /api/ps said at the last detection."""
        self.loaded = set(loaded)

    def mark_inventory_stale(self) -> None:
        self.inventory_stale = True

    def take_finished(self) -> bool:
        """True once after steps ended (the agent then detects at once, so its report shows
        the pulled or deleted model without waiting for the interval)."""
        if self.steps_finished == self._finished_seen:
            return False
        self._finished_seen = self.steps_finished
        return True

    @property
    def in_progress(self) -> bool:
        """A step runs or waits its turn."""
        return bool(self.running) or any(not a.finished for a in self.activity)

    @property
    def busy(self) -> bool:
        return bool(self.running)

    # Loop interface ---------------------------------------------------------------------------

    def next_due(self) -> float:
        now = self.clock()
        if self.dirty:
            return max(now, self.last_write + self.write_interval)
        if self.running:
            return now + 1.0  # look again soon: a step may end (no write unless it did)
        return float("inf")

    async def step(self) -> None:
        """Plan and start what is due, stop what is no longer wanted, write if due."""
        if self.tasks is not None:
            if self.inventory_stale and (self.tasks or self.sets or self.running):
                await self._refresh_inventory()
            # Without a first list of installed models every set's model looks missing: wait.
            if self.inventory_known or not (self.tasks or self.sets):
                self._plan()
        await self.flush()

    async def flush(self, force: bool = False) -> bool:
        """Hand the activity to the sink when it changed and the budget allows; True if sent."""
        if not self.dirty:
            return False
        if not force and self.clock() < self.last_write + self.write_interval:
            return False
        snapshot = self._snapshot()
        self.dirty = False
        self.last_write = self.clock()
        try:
            await self.sink(snapshot)
        except Exception as exc:  # the sink logs its own failures; try again next slot
            self.dirty = True
            log.warning("work: activity not written: %s", exc)
            return False
        self.writes += 1
        return True

    def budget_free_at(self) -> float:
        """When the node's next status write fits the budget. The reporter's own writes share
        it: while work runs, the node writes its status at most once per write_interval."""
        return self.last_write + self.write_interval

    def written_with_report(self) -> list[Activity] | None:
        """The reporter writes the node's status now anyway: the activity to carry in that same
        write (None when it did not change). Either way the write uses the budget."""
        self.last_write = self.clock()
        if not self.dirty:
            return None
        self.dirty = False
        self.writes += 1
        return self._snapshot()

    async def close(self) -> None:
        for key, task in list(self.running.items()):
            self.cancel_reasons.setdefault(key, "the agent is stopping")
            task.cancel()
        if self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)
        await self.ops.close()

    # Planning ---------------------------------------------------------------------------------

    async def _refresh_inventory(self) -> None:
        try:
            self.installed = await self.ops.installed()
        except OpFailed as exc:
            if not self._inventory_failing:
                log.warning("work: cannot list installed models (retrying each cycle): %s", exc)
            self._inventory_failing = True
            return
        if self._inventory_failing:
            log.info("work: Ollama lists its models again")
        self._inventory_failing = False
        self.inventory_stale = False
        self.inventory_known = True

    def facts(self) -> NodeFacts:
        return NodeFacts(
            name=self.node_name,
            labels=self.labels,
            ready=True,
            installed=dict(self.installed),
            loaded=frozenset(self.loaded),
            activity=tuple(self.activity),
        )

    def _plan(self) -> None:
        tasks, sets = self.tasks or [], self.sets
        steps = [
            s for s in self.planner(self.facts(), tasks, sets, self.now()) if s.action in ACTIONS
        ] + self._benchmark_steps()
        planned = {s.key(): s for s in steps}
        for key in list(self.running):
            why = self._unwanted(key, tasks, sets)
            if why is not None and key not in self.cancel_reasons:
                self.cancel_reasons[key] = why
                log.info("work: stopping %s %s for %s %s: %s", key[2], key[3], key[0], key[1], why)
                self.running[key].cancel()
        for entry in list(self.activity):
            key = entry.key()
            if entry.finished or key in self.running or key in planned:
                continue
            # Planned before (or before a restart) and no longer wanted.
            why = self._unwanted(key, tasks, sets)
            if key[0] in ("OllamaTask", "OllamaBenchmark") and why is not None:
                self._record(entry.model_copy(update=self._ended("Cancelled", "Cancelled", why)))
            elif key[0] == "OllamaModelSet":
                self.activity = [a for a in self.activity if a.key() != key]
                self.dirty = True
            elif entry.phase == "Running":  # from before a restart, and not admitted now
                self._record(entry.model_copy(update={"phase": "Pending", "message": "waiting"}))
        pulling = any(k[2] == "pull" for k in self.running)
        quick = any(k[2] != "pull" for k in self.running)
        busy_models = {k[3] for k in self.running}
        for step in steps:
            key = step.key()
            if key in self.running:
                continue
            lane_busy = pulling if step.action == "pull" else quick
            if lane_busy or step.model in busy_models:
                self._pending(step)
                continue
            self._start(step)
            busy_models.add(step.model)
            if step.action == "pull":
                pulling = True
            else:
                quick = True

    def _benchmark_steps(self) -> list[Step]:
        """The measurements of the oldest open benchmark with work here (the planner's rule:
        one benchmark at a time); they share the lane of loads and unloads, so one runs at a
        time and nothing loads or unloads a model beside it."""
        if not self.benchmarks:
            return []
        return node_steps(self.facts(), [], [], self.now(), benchmarks=self.benchmarks)

    def _unwanted(
        self, key: Key, tasks: Sequence[OllamaTask], sets: Sequence[OllamaModelSet]
    ) -> str | None:
        """Why the work of `key` should stop, or None while its source still wants it."""
        kind, name, _, model = key
        entry = self._entry(key)
        uid = entry.source_uid if entry is not None else None
        if kind == "OllamaBenchmark" and self.benchmarks is None:
            return None  # not known yet
        if kind in ("OllamaTask", "OllamaBenchmark"):
            word = "task" if kind == "OllamaTask" else "benchmark"
            pool: Sequence[OllamaTask | OllamaBenchmark] = (
                tasks if kind == "OllamaTask" else self.benchmarks or []
            )
            task = next((t for t in pool if t.metadata.name == name), None)
            if task is None or task.metadata.deletion_timestamp is not None:
                return f"{word} {name} was deleted"
            if uid and task.metadata.uid and task.metadata.uid != uid:
                return f"{word} {name} was re-created"
            if task.spec.cancel:
                return f"{word} {name} was cancelled"
            return None
        mset = next((s for s in sets if s.metadata.name == name), None)
        if mset is None or mset.metadata.deletion_timestamp is not None:
            return f"model set {name} was deleted"
        if uid and mset.metadata.uid and mset.metadata.uid != uid:
            return f"model set {name} was re-created"
        if key[2] != "delete" and all(ref.name != model for ref in mset.spec.models):
            return f"model set {name} no longer names {model}"  # (prune deletes unnamed ones)
        return None

    def _entry(self, key: Key) -> Activity | None:
        return next((a for a in self.activity if a.key() == key), None)

    def _pending(self, step: Step) -> None:
        entry = self._entry(step.key())
        if entry is not None and entry.phase == "Pending" and entry.source_uid == step.source_uid:
            return
        self._record(self._new(step, "Pending", "waiting for the node's previous step"))

    def _new(self, step: Step, phase: str, message: str = "") -> Activity:
        return Activity.model_validate(
            {
                "sourceKind": step.source_kind,
                "source": step.source,
                "sourceUid": step.source_uid,
                "generation": step.generation,
                "action": step.action,
                "model": step.model,
                "phase": phase,
                "message": message,
            }
        )

    def _record(self, entry: Activity) -> None:
        self.activity = merge_activity(self.activity, entry)
        self.dirty = True

    def _ended(self, phase: str, reason: str | None, message: str) -> dict[str, object]:
        return {
            "phase": phase,
            "reason": reason,
            "message": message[:MAX_MESSAGE],
            "finished_at": self.now(),
        }

    def _snapshot(self) -> list[Activity]:
        out = []
        for entry in self.activity:
            state = self.progress.get(entry.key())
            if state is not None and entry.phase == "Running":
                entry = entry.model_copy(
                    update={
                        "completed_bytes": state.completed,
                        "total_bytes": state.total or None,
                        "message": state.message()[:MAX_MESSAGE],
                    }
                )
            out.append(entry)
        return out

    # Execution --------------------------------------------------------------------------------

    def _start(self, step: Step) -> None:
        key = step.key()
        before = self._entry(key)
        attempts = before.attempts if before and before.source_uid == step.source_uid else 0
        resumed = before is not None and before.phase == "Running" and attempts > 0
        entry = self._new(step, "Running", "resuming after a restart" if resumed else "")
        entry = entry.model_copy(update={"attempts": attempts, "started_at": self.now()})
        self._record(entry)
        self.running[key] = asyncio.get_running_loop().create_task(self._run(step))

    async def _run(self, step: Step) -> None:
        key = step.key()
        try:
            phase, reason, message, digest = await self._execute(step)
        except asyncio.CancelledError:
            phase, reason = "Cancelled", "Cancelled"
            message = f"stopped: {self.cancel_reasons.get(key, 'cancelled')}"
            digest = None
        except Exception as exc:  # a bug must not stop the loop: it ends the step
            log.exception("work: %s %s failed", step.action, step.model)
            phase, reason, message, digest = "Failed", "AgentError", str(exc), None
        entry = self._entry(key) or self._new(step, "Running")
        update = self._ended(phase, reason, message)
        if digest is not None:
            update["digest"] = digest
        result = self.results.pop(key, None)
        if result is not None:
            update["result"] = result
        state = self.progress.pop(key, None)
        if state is not None and state.total:
            update["completed_bytes"] = state.completed
            update["total_bytes"] = state.total
        self._record(entry.model_copy(update=update))
        self.running.pop(key, None)
        self.cancel_reasons.pop(key, None)
        self.steps_finished += 1
        self.inventory_stale = True
        self.wakeup.set()
        log.info(
            "work: %s %s for %s %s: %s %s",
            step.action,
            step.model,
            step.source_kind,
            step.source,
            phase,
            message,
        )

    async def _execute(self, step: Step) -> tuple[str, str | None, str, str | None]:
        """(phase, reason, message, digest) of a step that ran to its end."""
        try:
            if step.action == "pull":
                return await self._pull(step)
            if step.action == "delete":
                return await self._delete(step)
            if step.action == "load":
                return await self._load(step)
            if step.action == "benchmark":
                return await self._benchmark(step)
            return await self._unload(step)
        except OpFailed as failed:
            return "Failed", failed.reason, failed.message, None

    async def _pull(self, step: Step) -> tuple[str, str | None, str, str | None]:
        have = self.installed.get(step.model)
        if step.digest and same_digest(have, step.digest):
            return "Succeeded", None, "already installed with that digest", have
        backoff = Backoff(base=self.backoff_base, cap=self.backoff_cap, rng=self.rng)
        key = step.key()
        tries = 0
        while True:
            tries += 1
            self._bump_attempts(key)

            def seen(progress: PullProgress) -> None:
                self.progress[key] = progress
                self.dirty = True  # written within the budget, not per line

            try:
                await self.ops.pull(step.model, seen)
                break
            except OpFailed as failed:
                if not failed.retryable or tries >= self.pull_attempts:
                    if failed.retryable:
                        failed.message += f" (gave up after {tries} attempts)"
                    raise
                delay = backoff.next_delay()
                self._note(key, f"{failed.message}; retrying in {delay:.0f}s")
                await self.sleep(delay)
        installed = await self.ops.installed()
        self.installed = installed
        digest = installed.get(step.model)
        if step.digest and not same_digest(digest, step.digest):
            return (
                "Failed",
                "DigestMismatch",
                f"pulled {step.model} has digest {(digest or '?')[:12]}, not the pinned "
                f"{step.digest[:12]}: the registry's tag moved on",
                digest,
            )
        return "Succeeded", None, "pulled", digest

    def _bump_attempts(self, key: Key) -> None:
        entry = self._entry(key)
        if entry is not None:
            self._record(entry.model_copy(update={"attempts": entry.attempts + 1}))

    def _note(self, key: Key, message: str) -> None:
        entry = self._entry(key)
        self.progress.pop(key, None)
        if entry is not None:
            self._record(entry.model_copy(update={"message": message[:MAX_MESSAGE]}))

    def _ours(self, model: str) -> bool:
        """Loaded by a load step of this agent (a task or a keepLoaded set)."""
        return any(
            a.action == "load" and a.model == model and a.phase == "Succeeded"
            for a in self.activity
        )

    async def _delete(self, step: Step) -> tuple[str, str | None, str, str | None]:
        if step.model not in self.installed:
            return "Succeeded", None, "not installed", None
        if step.model in self.loaded:
            if not step.evict:
                return (
                    "Skipped",
                    "Busy",
                    f"{step.model} is loaded; not deleted (evict: true deletes it anyway)",
                    None,
                )
            await self.ops.unload(step.model)
            self.loaded.discard(step.model)
        try:
            await self.ops.delete(step.model)
        except OpFailed as failed:
            if failed.reason != "NotFound":
                raise
        self.installed.pop(step.model, None)
        return "Succeeded", None, "deleted", None

    async def _load(self, step: Step) -> tuple[str, str | None, str, str | None]:
        if step.model not in self.installed:
            return "Failed", "NotInstalled", f"{step.model} is not installed: pull it first", None
        await self.ops.load(step.model, step.keep_alive)
        self.loaded.add(step.model)
        return "Succeeded", None, "loaded", self.installed.get(step.model)

    async def _unload(self, step: Step) -> tuple[str, str | None, str, str | None]:
        if step.model not in self.loaded:
            return "Succeeded", None, "not loaded", None
        if not step.evict and not self._ours(step.model):
            return (
                "Skipped",
                "Busy",
                f"{step.model} was loaded by someone else; not unloaded (evict: true unloads it)",
                None,
            )
        await self.ops.unload(step.model)
        self.loaded.discard(step.model)
        return "Succeeded", None, "unloaded", None

    async def _benchmark(self, step: Step) -> tuple[str, str | None, str, str | None]:
        """One (benchmark, model) measurement by the BenchRunner; `result` names what it wrote."""
        bench = next(
            (b for b in self.benchmarks or [] if b.metadata.name == step.source),
            None,
        )
        if bench is None:
            return "Cancelled", "Cancelled", f"benchmark {step.source} is gone", None
        if self.bench is None:
            return "Failed", "NotSupported", "this agent runs no benchmarks", None
        if self.report is None:
            return "Failed", "AgentError", "no detection of the node yet", None
        key = step.key()
        runner = self.bench.runner
        runner.node_name = self.bench.node_name()
        outcome = await runner.measure(
            bench,
            step.model,
            self.report,
            self.bench.store(bench),
            progress=lambda message: self._note(key, message),
        )
        if outcome.result is not None:
            self.results[key] = outcome.result
        digest = outcome.spec.facts.model_digest if outcome.spec is not None else None
        return outcome.phase, outcome.reason, outcome.message, digest
