"""Planning and aggregation of fleet work: pure functions, no I/O, no clock of their own.

- `node_steps` is the agent's half: given its own node's facts and the tasks and model sets that
  exist, what should this node do now? Both agent modes (DaemonSet, standalone) call it.
- `task_status` / `modelset_status` are the aggregator's half: given the tasks' and sets' specs
  and every node's facts (labels, installed and loaded models, `status.activity`), what is the
  status? The operator (cluster mode) and the API's local reconciler (local mode) call them and
  write the result when it differs from what is stored.

Fleet-wide concurrency is decided here too: the aggregator lists in `status.admitted` the nodes
allowed to work now (at most `maxConcurrent` / `maxConcurrentPulls`), and `node_steps` starts a
limited step only on an admitted node. An agent therefore never needs the other nodes' state.

Every function is deterministic: equal inputs give equal outputs, in a stable order, so a writer
can skip a write when the computed status equals the stored one. Times that the output carries
(startTime, completionTime, a condition's lastTransitionTime) are kept from the previous status
when nothing changed, and taken from `now` when something did.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from obt.core.models.actions import (
    MAX_MESSAGE,
    MAX_STATUS_NODES,
    MemberState,
    MemberStatus,
    NodeOutcome,
    OllamaModelSet,
    OllamaModelSetStatus,
    OllamaTask,
    OllamaTaskStatus,
    StepPhase,
    TaskPhase,
    same_digest,
)
from obt.core.models.activity import MAX_ACTIVITY, Activity, SourceKind, StepAction
from obt.core.models.benchmark import (
    BenchmarkNode,
    OllamaBenchmark,
    OllamaBenchmarkResultSpec,
    OllamaBenchmarkStatus,
)
from obt.core.models.node import Condition, OllamaNode
from obt.core.selectors import selects

# A model set retries a node's failed step this long after it failed (or at once when the set's
# spec changes). Within a step the agent itself retries a broken pull with back-off.
RETRY_AFTER_FAILURE = timedelta(minutes=5)
# After a step succeeded, the node's inventory (re-detected by its agent) may lag behind for a
# report cycle; the planner trusts the success this long instead of pulling again.
TRUST_SUCCESS = timedelta(minutes=2)
TERMINAL_TASK_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed", "Cancelled"})
# Ready-to-read order of per-node outcomes: what needs a person's eyes first.
_TASK_ORDER = {
    "Failed": 0,
    "Running": 1,
    "Pending": 2,
    "Cancelled": 3,
    "Skipped": 4,
    "Succeeded": 5,
}
_MEMBER_ORDER = {"Failed": 0, "Pulling": 1, "Waiting": 2, "Ready": 3}


@dataclass(frozen=True)
class NodeFacts:
    """What planning and aggregation need to know about one OllamaNode."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: bool = True
    """Phase Ready, or not judged yet (Pending / no phase): work may go there."""
    installed: Mapping[str, str | None] = field(default_factory=dict)
    """Installed model name -> digest (the 12-digit prefix OllamaNode stores, or longer)."""
    loaded: frozenset[str] = frozenset()
    activity: tuple[Activity, ...] = ()

    @classmethod
    def from_node(cls, node: OllamaNode) -> NodeFacts:
        status = node.status
        ollama = status.ollama
        return cls(
            name=node.metadata.name,
            labels=dict(node.metadata.labels or {}),
            ready=status.phase in (None, "Pending", "Ready"),
            installed={m.name: m.digest for m in ollama.models} if ollama else {},
            loaded=frozenset(m.name for m in ollama.loaded) if ollama else frozenset(),
            activity=tuple(status.activity or ()),
        )

    def step_of(
        self, kind: SourceKind, source: str, uid: str | None, action: str, model: str
    ) -> Activity | None:
        """The activity entry for this (source, action, model), if any; a different uid (a
        deleted source re-created under the same name) does not count."""
        for entry in self.activity:
            if entry.key() == (kind, source, action, model) and (
                uid is None or entry.source_uid is None or entry.source_uid == uid
            ):
                return entry
        return None


@dataclass(frozen=True)
class Step:
    """One thing an agent should do now: an action on one model for one task or model set."""

    source_kind: SourceKind
    source: str
    source_uid: str | None
    generation: int | None
    action: StepAction
    model: str
    digest: str | None = None
    """A pinned digest the model must end up with."""
    keep_alive: str | None = None
    """For load: Ollama's keep_alive ('-1' keeps it loaded for ever)."""
    evict: bool = False
    """delete/unload may act where the model is loaded by someone else."""

    def key(self) -> tuple[str, str, str, str]:
        return (self.source_kind, self.source, self.action, self.model)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# --- planning (the agent's half) ------------------------------------------------------------


def task_targets(task: OllamaTask | OllamaBenchmark, nodes: Mapping[str, NodeFacts]) -> list[str]:
    """The node names a task (or benchmark) applies to: its `nodes` as given (names that do
    not exist included, they fail with NodeNotFound), or the existing nodes its selector
    picks, by name."""
    if task.spec.nodes is not None:
        return list(dict.fromkeys(task.spec.nodes))
    return sorted(n for n, facts in nodes.items() if selects(task.spec.node_selector, facts.labels))


def _targets_node(task: OllamaTask | OllamaBenchmark, node: NodeFacts) -> bool:
    if task.spec.nodes is not None:
        return node.name in task.spec.nodes
    return selects(task.spec.node_selector, node.labels)


def _task_open(task: OllamaTask | OllamaBenchmark) -> bool:
    return (
        not task.spec.cancel
        and task.metadata.deletion_timestamp is None
        and task.status.phase not in TERMINAL_TASK_PHASES
    )


def _backing_off(entry: Activity | None, generation: int | None, now: datetime) -> bool:
    """A failed step of the same spec generation is retried only after RETRY_AFTER_FAILURE."""
    return (
        entry is not None
        and entry.phase == "Failed"
        and entry.generation == generation
        and entry.finished_at is not None
        and now - entry.finished_at < RETRY_AFTER_FAILURE
    )


def _recent_success(entry: Activity | None, now: datetime) -> bool:
    return (
        entry is not None
        and entry.phase == "Succeeded"
        and entry.finished_at is not None
        and now - entry.finished_at < TRUST_SUCCESS
    )


def _running(entry: Activity | None) -> bool:
    return entry is not None and not entry.finished


def _task_steps(node: NodeFacts, task: OllamaTask) -> list[Step]:
    if not _task_open(task) or not _targets_node(task, node):
        return []
    uid, name = task.metadata.uid, task.metadata.name
    action = task.spec.action
    entries = [node.step_of("OllamaTask", name, uid, action, m.name) for m in task.spec.models]
    waiting = task.spec.max_concurrent is not None and node.name not in (task.status.admitted or [])
    if waiting and not any(_running(e) for e in entries):
        return []  # waiting for a slot (the aggregator admits at most maxConcurrent nodes)
    steps = []
    for model, entry in zip(task.spec.models, entries, strict=True):
        if entry is not None and entry.finished:
            continue
        steps.append(
            Step(
                source_kind="OllamaTask",
                source=name,
                source_uid=uid,
                generation=task.metadata.generation,
                action=action,
                model=model.name,
                digest=model.digest,
                keep_alive=task.spec.keep_alive,
                evict=task.spec.evict,
            )
        )
    return steps


def _needs_pull(node: NodeFacts, name: str, pin: str | None) -> bool:
    if name not in node.installed:
        return True
    return pin is not None and not same_digest(node.installed[name], pin)


def _set_steps(
    node: NodeFacts, mset: OllamaModelSet, all_sets: Sequence[OllamaModelSet], now: datetime
) -> list[Step]:
    if mset.metadata.deletion_timestamp is not None or not selects(
        mset.spec.node_selector, node.labels
    ):
        return []
    uid, name, gen = mset.metadata.uid, mset.metadata.name, mset.metadata.generation
    admitted = node.name in mset.status.admitted

    def step(action: StepAction, model: str, **extra: object) -> Step:
        return Step(
            source_kind="OllamaModelSet",
            source=name,
            source_uid=uid,
            generation=gen,
            action=action,
            model=model,
            **extra,  # type: ignore[arg-type]
        )

    steps: list[Step] = []
    for ref in mset.spec.models:
        pull = node.step_of("OllamaModelSet", name, uid, "pull", ref.name)
        if _needs_pull(node, ref.name, ref.digest):
            if _running(pull):
                steps.append(step("pull", ref.name, digest=ref.digest))
            elif _recent_success(pull, now) and (
                ref.digest is None or same_digest(pull.digest if pull else None, ref.digest)
            ):
                continue  # pulled; the inventory has not caught up yet
            elif admitted and not _backing_off(pull, gen, now):
                steps.append(step("pull", ref.name, digest=ref.digest))
            continue
        if mset.spec.keep_loaded and ref.name not in node.loaded:
            load = node.step_of("OllamaModelSet", name, uid, "load", ref.name)
            if _running(load) or not (_backing_off(load, gen, now) or _recent_success(load, now)):
                steps.append(step("load", ref.name, keep_alive="-1"))
    if mset.spec.prune:
        keep = {
            ref.name
            for other in all_sets
            if other.metadata.deletion_timestamp is None
            and selects(other.spec.node_selector, node.labels)
            for ref in other.spec.models
        } | {ref.name for ref in mset.spec.models}
        for model in sorted(node.installed):
            if model in keep or model in node.loaded:
                continue  # never prune a model that is in use
            entry = node.step_of("OllamaModelSet", name, uid, "delete", model)
            if _running(entry) or not (
                _backing_off(entry, gen, now) or _recent_success(entry, now)
            ):
                steps.append(step("delete", model))
    return steps


def _created(obj: OllamaTask | OllamaBenchmark) -> tuple[float, str]:
    stamp = obj.metadata.creation_timestamp
    return (stamp.timestamp() if stamp else 0.0, obj.metadata.name)


def _benchmark_steps(node: NodeFacts, benchmarks: Sequence[OllamaBenchmark]) -> list[Step]:
    """The remaining (node, model) measurements of the oldest open benchmark that still has
    work here: one benchmark at a time per node, models in spec order."""
    for bench in sorted(benchmarks, key=_created):
        if not _task_open(bench) or not _targets_node(bench, node):
            continue
        uid, name = bench.metadata.uid, bench.metadata.name
        steps = [
            Step(
                source_kind="OllamaBenchmark",
                source=name,
                source_uid=uid,
                generation=bench.metadata.generation,
                action="benchmark",
                model=ref.name,
                digest=ref.digest,
                evict=bench.spec.evict,
            )
            for ref in bench.spec.models
            if not (
                (entry := node.step_of("OllamaBenchmark", name, uid, "benchmark", ref.name))
                and entry.finished
            )
        ]
        if steps:
            return steps
    return []


def node_steps(
    node: NodeFacts,
    tasks: Sequence[OllamaTask],
    sets: Sequence[OllamaModelSet],
    now: datetime,
    benchmarks: Sequence[OllamaBenchmark] = (),
) -> list[Step]:
    """What `node` should do now: tasks first (oldest first), then model sets (by name), then
    benchmark measurements (one benchmark at a time).

    Pass every task, set and benchmark that exists (the planner decides which concern the
    node; prune needs every set). A step that is running already is listed again: the agent
    keeps one execution per `Step.key()` and lets it go on.
    """
    if not node.ready:
        return []
    steps: list[Step] = []
    for task in sorted(tasks, key=_created):
        steps.extend(_task_steps(node, task))
    for mset in sorted(sets, key=lambda s: s.metadata.name):
        steps.extend(_set_steps(node, mset, sets, now))
    steps.extend(_benchmark_steps(node, benchmarks))
    return steps


def merge_activity(current: Sequence[Activity], update: Activity) -> list[Activity]:
    """The node's activity list with `update` in place of the entry with its key: running
    steps first (oldest first), then finished ones (newest first), at most MAX_ACTIVITY."""
    kept = [a for a in current if a.key() != update.key()]
    kept.append(update)
    running = sorted(
        (a for a in kept if not a.finished),
        key=lambda a: (a.started_at.timestamp() if a.started_at else 0.0, a.key()),
    )
    done = sorted(
        (a for a in kept if a.finished),
        key=lambda a: (-(a.finished_at.timestamp() if a.finished_at else 0.0), a.key()),
    )
    return (running + done)[:MAX_ACTIVITY]


# --- aggregation (the operator's / local reconciler's half) ----------------------------------


def _condition(
    previous: Sequence[Condition],
    type_: str,
    true: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> Condition:
    status = "True" if true else "False"
    since = now
    for old in previous:
        if old.type == type_ and old.status == status:
            since = old.last_transition_time
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def _bytes(entries: Iterable[Activity]) -> tuple[int | None, int | None]:
    done = total = 0
    known = False
    for entry in entries:
        if entry.total_bytes is not None:
            known = True
            total += entry.total_bytes
            done += entry.completed_bytes or 0
    return (done, total) if known else (None, None)


def _node_outcome(task: OllamaTask, name: str, facts: NodeFacts | None) -> NodeOutcome:
    if facts is None:
        return NodeOutcome(
            node=name,
            phase="Failed",
            reason="NodeNotFound",
            message=f"no OllamaNode named {name!r}",
        )
    uid, action = task.metadata.uid, task.spec.action
    entries = {
        m.name: facts.step_of("OllamaTask", task.metadata.name, uid, action, m.name)
        for m in task.spec.models
    }
    present = [e for e in entries.values() if e is not None]
    done_bytes, total_bytes = _bytes(e for e in present if e.action == "pull")
    if present and len(present) == len(entries) and all(e.finished for e in present):
        failed = [e for e in present if e.phase == "Failed"]
        if failed:
            first = failed[0]
            return NodeOutcome(
                node=name,
                phase="Failed",
                model=first.model,
                reason=first.reason or "Failed",
                message=_cut(first.message),
                finished_at=max((e.finished_at for e in present if e.finished_at), default=None),
            )
        phases = {e.phase for e in present}
        phase: StepPhase = "Succeeded"
        if phases == {"Skipped"}:
            phase = "Skipped"
        elif phases == {"Cancelled"} or (task.spec.cancel and "Cancelled" in phases):
            phase = "Cancelled"
        skipped = next((e for e in present if e.phase == "Skipped"), None)
        return NodeOutcome(
            node=name,
            phase=phase,
            model=skipped.model if skipped else None,
            reason=skipped.reason if skipped else None,
            message=_cut(skipped.message) if skipped else "",
            completed_bytes=done_bytes,
            total_bytes=total_bytes,
            finished_at=max((e.finished_at for e in present if e.finished_at), default=None),
        )
    if task.spec.cancel:
        return NodeOutcome(node=name, phase="Cancelled", message="the task was cancelled")
    running = [e for e in present if not e.finished]
    if running:
        current = running[0]
        return NodeOutcome(
            node=name,
            phase="Running",
            model=current.model,
            message=_cut(current.message),
            completed_bytes=done_bytes,
            total_bytes=total_bytes,
        )
    if not facts.ready:
        return NodeOutcome(
            node=name,
            phase="Failed",
            reason="NodeNotReady",
            message="the node is not Ready; its work waits until it comes back",
        )
    return NodeOutcome(node=name, phase="Running" if present else "Pending")


def task_status(
    task: OllamaTask, nodes: Mapping[str, NodeFacts], now: datetime
) -> OllamaTaskStatus:
    """A task's status from its spec, its previous status and the nodes' activity."""
    previous = task.status
    targets = task_targets(task, nodes)
    outcomes = [_node_outcome(task, name, nodes.get(name)) for name in targets]
    count = Counter(o.phase for o in outcomes)
    succeeded = count["Succeeded"] + count["Skipped"]
    failed, running, pending = count["Failed"], count["Running"], count["Pending"]
    finished = succeeded + failed + count["Cancelled"]
    phase: TaskPhase
    if previous.phase in TERMINAL_TASK_PHASES:
        phase = previous.phase  # a finished task stays finished (like a Job)
    elif task.spec.cancel:
        phase = "Cancelled"
    elif not targets:
        phase = "Failed"
    elif finished == len(targets) and running == 0:
        # NodeNotReady counts as failed only once nothing else is left to wait for.
        phase = "Failed" if failed else "Succeeded"
    elif running or finished:
        phase = "Running"
    else:
        phase = "Pending"
    terminal = phase in TERMINAL_TASK_PHASES
    start = previous.start_time or (now if (running or finished or terminal) else None)
    completion = previous.completion_time or (now if terminal else None)

    admitted: list[str] | None = None
    if task.spec.max_concurrent is not None:
        admitted = []
        if not terminal:
            by_name = {o.node: o for o in outcomes}
            open_ = [n for n in targets if by_name[n].phase in ("Pending", "Running")]
            keep = [n for n in (previous.admitted or []) if n in open_]
            keep += [n for n in open_ if by_name[n].phase == "Running" and n not in keep]
            for n in open_:
                if len(keep) >= task.spec.max_concurrent:
                    break
                if n not in keep:
                    keep.append(n)
            admitted = sorted(keep)

    gen = task.metadata.generation
    if not targets:
        message = "no node matches the task's nodes or nodeSelector"
    else:
        message = f"{succeeded}/{len(targets)} nodes done, {failed} failed"
    first_failure = next((o for o in outcomes if o.phase == "Failed"), None)
    conditions = [
        _condition(
            previous.conditions,
            "Complete",
            phase == "Succeeded",
            "AllNodesDone" if phase == "Succeeded" else phase,
            message,
            now,
            gen,
        ),
        _condition(
            previous.conditions,
            "Failed",
            phase == "Failed",
            (first_failure.reason or "Failed")
            if first_failure
            else ("NoMatchingNodes" if not targets else "NoFailures"),
            f"node {first_failure.node}: {first_failure.message}" if first_failure else message,
            now,
            gen,
        ),
    ]
    shown = sorted(outcomes, key=lambda o: (_TASK_ORDER[o.phase], o.node))[:MAX_STATUS_NODES]
    return OllamaTaskStatus(
        phase=phase,
        selected=len(targets),
        succeeded=succeeded,
        failed=failed,
        running=running,
        pending=pending,
        admitted=admitted,
        nodes=shown,
        start_time=start,
        completion_time=completion,
        observed_generation=gen,
        conditions=conditions,
    )


def pull_limit(mset: OllamaModelSet, selected: int) -> int:
    """maxConcurrentPulls as a node count: a percentage of the selected nodes rounds up; >= 1."""
    value = mset.spec.max_concurrent_pulls
    if isinstance(value, int):
        return max(1, value)
    return max(1, math.ceil(selected * int(value.rstrip("%")) / 100))


def modelset_status(
    mset: OllamaModelSet,
    nodes: Mapping[str, NodeFacts],
    now: datetime,
    *,
    all_sets: Sequence[OllamaModelSet] = (),
) -> OllamaModelSetStatus:
    """A model set's status from its spec, its previous status and the selected nodes' facts.

    `all_sets` is accepted for symmetry with planning (prune reads every set); the status of
    one set depends on its own models only.
    """
    del all_sets
    previous = mset.status
    uid, name, gen = mset.metadata.uid, mset.metadata.name, mset.metadata.generation
    selected = sorted(n for n, f in nodes.items() if selects(mset.spec.node_selector, f.labels))
    # For a model without a pinned digest, the digest most selected nodes have is "the" model;
    # a node with another one is reported as drifted (someone pulled a newer tag there).
    majority: dict[str, str] = {}
    for ref in mset.spec.models:
        if ref.digest is None:
            seen = Counter(
                (nodes[n].installed.get(ref.name) or "")[:12]
                for n in selected
                if nodes[n].installed.get(ref.name)
            )
            if len(seen) > 1:
                majority[ref.name] = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]

    members: list[MemberStatus] = []
    eligible: list[str] = []  # nodes that need a pull and may be given a slot
    for node_name in selected:
        facts = nodes[node_name]
        missing = [r.name for r in mset.spec.models if r.name not in facts.installed]
        pinned_drift = [
            r.name
            for r in mset.spec.models
            if r.digest is not None
            and r.name in facts.installed
            and not same_digest(facts.installed[r.name], r.digest)
        ]
        drifted = pinned_drift + [
            m
            for m, digest in majority.items()
            if m in facts.installed and (facts.installed[m] or "")[:12] != digest
        ]
        needs = missing + pinned_drift
        pulls = [facts.step_of("OllamaModelSet", name, uid, "pull", m) for m in needs]
        active = [p for p in pulls if p is not None and not p.finished]
        failures = [
            p for p in pulls if p is not None and p.phase == "Failed" and p.generation == gen
        ]
        unloaded = (
            [r.name for r in mset.spec.models if r.name not in facts.loaded and r.name not in needs]
            if mset.spec.keep_loaded
            else []
        )
        load_failures = [
            e
            for m in unloaded
            if (e := facts.step_of("OllamaModelSet", name, uid, "load", m)) is not None
            and e.phase == "Failed"
            and e.generation == gen
        ]
        state: MemberState
        reason: str | None = None
        message = ""
        done_bytes, total_bytes = _bytes(active)
        if active:
            state = "Pulling"
            message = _cut(active[0].message)
        elif failures or load_failures:
            first = (failures or load_failures)[0]
            state, reason, message = "Failed", first.reason or "Failed", _cut(first.message)
        elif needs or unloaded:
            state = "Waiting"
            if not facts.ready:
                reason, message = "NodeNotReady", "the node is not Ready"
            elif needs:
                message = "waiting for a pull slot" if node_name not in previous.admitted else ""
                message = message or f"to pull: {', '.join(needs)}"
            else:
                message = f"to load: {', '.join(unloaded)}"
        else:
            state = "Ready"
        if (
            needs
            and facts.ready
            and (
                state in ("Pulling", "Waiting")
                or (state == "Failed" and not any(_backing_off(p, gen, now) for p in failures))
            )
        ):
            eligible.append(node_name)
        members.append(
            MemberStatus(
                node=node_name,
                state=state,
                missing=missing,
                drifted=drifted,
                reason=reason,
                message=message,
                completed_bytes=done_bytes,
                total_bytes=total_bytes,
            )
        )

    limit = pull_limit(mset, len(selected))
    by_name = {m.node: m for m in members}
    admitted = [n for n in eligible if by_name[n].state == "Pulling"]
    admitted += [n for n in previous.admitted if n in eligible and n not in admitted]
    for n in eligible:
        if len(admitted) >= limit:
            break
        if n not in admitted:
            admitted.append(n)
    count = Counter(m.state for m in members)
    ready, pulling, waiting, failed = (
        count["Ready"],
        count["Pulling"],
        count["Waiting"],
        count["Failed"],
    )
    n_drifted = sum(1 for m in members if m.drifted)
    first_failure = next((m for m in members if m.state == "Failed"), None)
    conditions = [
        _condition(
            previous.conditions,
            "Ready",
            bool(selected) and ready == len(selected),
            "AllNodesReady"
            if selected and ready == len(selected)
            else ("NoNodesSelected" if not selected else "NodesNotReady"),
            f"{ready}/{len(selected)} nodes have every model",
            now,
            gen,
        ),
        _condition(
            previous.conditions,
            "Progressing",
            bool(pulling or waiting),
            "Pulling" if pulling else ("Waiting" if waiting else "Idle"),
            f"{pulling} pulling, {waiting} waiting",
            now,
            gen,
        ),
        _condition(
            previous.conditions,
            "Degraded",
            bool(failed),
            (first_failure.reason or "Failed") if first_failure else "NoFailures",
            f"node {first_failure.node}: {first_failure.message}" if first_failure else "",
            now,
            gen,
        ),
    ]
    shown = sorted(
        (m for m in members if m.state != "Ready" or m.drifted),
        key=lambda m: (_MEMBER_ORDER[m.state], m.node),
    )[:MAX_STATUS_NODES]
    return OllamaModelSetStatus(
        selected=len(selected),
        ready=ready,
        pulling=pulling,
        waiting=waiting,
        failed=failed,
        drifted=n_drifted,
        admitted=sorted(admitted[:limit] if len(admitted) > limit else admitted),
        nodes=shown,
        observed_generation=gen,
        conditions=conditions,
    )


def benchmark_status(
    bench: OllamaBenchmark,
    nodes: Mapping[str, NodeFacts],
    results: Sequence[tuple[str, OllamaBenchmarkResultSpec]],
    now: datetime,
) -> OllamaBenchmarkStatus:
    """A benchmark's status from the nodes' activity and the results written for it
    (`results`: (name, spec) pairs; those of other benchmarks are ignored)."""
    previous = bench.status
    uid, name = bench.metadata.uid, bench.metadata.name
    mine = {
        (spec.node, spec.model): (result_name, spec)
        for result_name, spec in results
        if spec.benchmark == name and (uid is None or spec.benchmark_uid in (None, uid))
    }
    targets = task_targets(bench, nodes)
    pairs: list[BenchmarkNode] = []
    for node_name in targets:
        facts = nodes.get(node_name)
        for ref in bench.spec.models:
            found = mine.get((node_name, ref.name))
            entry = (
                facts.step_of("OllamaBenchmark", name, uid, "benchmark", ref.name)
                if facts
                else None
            )
            pair = BenchmarkNode(node=node_name, model=ref.name, phase="Pending")
            if found is not None:
                pair.phase, pair.result, pair.cached = "Succeeded", found[0], found[1].cached
            elif facts is None:
                pair.phase, pair.reason = "Failed", "NodeNotFound"
                pair.message = f"no OllamaNode named {node_name!r}"
            elif entry is not None and entry.finished:
                pair.phase = "Succeeded" if entry.phase == "Succeeded" else entry.phase
                pair.reason, pair.message = entry.reason, _cut(entry.message)
                pair.result = entry.result
            elif bench.spec.cancel:
                pair.phase, pair.message = "Cancelled", "the benchmark was cancelled"
            elif entry is not None:
                pair.phase, pair.message = "Running", _cut(entry.message)
            elif not facts.ready:
                pair.phase, pair.reason = "Failed", "NodeNotReady"
                pair.message = "the node is not Ready; its work waits until it comes back"
            pairs.append(pair)
    count = Counter(p.phase for p in pairs)
    done = count["Succeeded"]
    reused = sum(1 for p in pairs if p.phase == "Succeeded" and p.cached)
    finished = done + count["Failed"] + count["Skipped"] + count["Cancelled"]
    phase: TaskPhase
    if previous.phase in TERMINAL_TASK_PHASES:
        phase = previous.phase
    elif bench.spec.cancel:
        phase = "Cancelled"
    elif not targets:
        phase = "Failed"
    elif finished == len(pairs):
        phase = "Failed" if count["Failed"] else "Succeeded"
    elif count["Running"] or finished:
        phase = "Running"
    else:
        phase = "Pending"
    terminal = phase in TERMINAL_TASK_PHASES
    gen = bench.metadata.generation
    message = (
        f"{done}/{len(pairs)} measured ({reused} reused), {count['Skipped']} skipped, "
        f"{count['Failed']} failed"
        if targets
        else "no node matches the benchmark's nodes or nodeSelector"
    )
    first_failure = next((p for p in pairs if p.phase == "Failed"), None)
    order = {"Failed": 0, "Running": 1, "Pending": 2, "Skipped": 3, "Cancelled": 4, "Succeeded": 5}
    return OllamaBenchmarkStatus(
        phase=phase,
        selected=len(pairs),
        done=done,
        running=count["Running"],
        skipped=count["Skipped"],
        failed=count["Failed"],
        ran=done - reused,
        reused=reused,
        nodes=sorted(pairs, key=lambda p: (order[p.phase], p.node, p.model))[:MAX_STATUS_NODES],
        start_time=previous.start_time or (now if (count["Running"] or finished) else None),
        completion_time=previous.completion_time or (now if terminal else None),
        observed_generation=gen,
        conditions=[
            _condition(
                previous.conditions,
                "Complete",
                phase == "Succeeded",
                "AllMeasured" if phase == "Succeeded" else phase,
                message,
                now,
                gen,
            ),
            _condition(
                previous.conditions,
                "Failed",
                phase == "Failed",
                (first_failure.reason or "Failed")
                if first_failure
                else ("NoMatchingNodes" if not targets else "NoFailures"),
                f"{first_failure.node} / {first_failure.model}: {first_failure.message}"
                if first_failure
                else message,
                now,
                gen,
            ),
        ],
    )


def task_expired(task: OllamaTask, now: datetime) -> bool:
    """Whether a finished task's ttlSecondsAfterFinished has passed."""
    ttl = task.spec.ttl_seconds_after_finished
    done = task.status.completion_time
    return ttl is not None and done is not None and now >= done + timedelta(seconds=ttl)
