"""The operator's in-memory picture of the fleet, fed by kopf's watch events. No I/O, no kopf.

Every time stored here is on the operator's own clock (`now` passed in by the caller); timestamps
that others wrote into objects (a Lease's renewTime, a condition's lastTransitionTime) are compared
for *change* only, never for their value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from obt.core.actions import TERMINAL_TASK_PHASES, NodeFacts
from obt.core.models import Condition, OllamaNode
from obt.core.models.actions import OllamaModelSet, OllamaTask
from obt.core.names import STANDALONE_LEASE_PREFIX

log = logging.getLogger(__name__)

LEASE_PREFIX = STANDALONE_LEASE_PREFIX
"""Standalone heartbeat Leases are named obt-node-<OllamaNode name> (docs/operator.md)."""


def _ready(conditions: Any) -> bool | None:
    """The Ready condition of a Node or Pod: True, False, or None (absent or Unknown)."""
    for condition in conditions or []:
        if condition.get("type") == "Ready":
            status = condition.get("status")
            return True if status == "True" else False if status == "False" else None
    return None


def _rv(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _older(meta: Mapping[str, Any], uid: str, resource_version: int) -> bool:
    """The same object, in a version older than the one we hold (written by us, the watch behind)."""
    rv = _rv(meta.get("resourceVersion"))
    return uid == meta.get("uid") and rv != -1 and rv < resource_version


WorkKind = Literal["OllamaTask", "OllamaModelSet"]
TASK: WorkKind = "OllamaTask"
MODELSET: WorkKind = "OllamaModelSet"
FINISHED_TASK_PHASES = TERMINAL_TASK_PHASES


def _facts_key(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """The parts of an OllamaNode the aggregation reads (obt.core.actions.NodeFacts): labels,
    judged phase, installed and loaded models, activity. A change elsewhere (hardware, the agent's
    own fields) changes no task or set status, so it recomputes nothing."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    ollama = status.get("ollama") or {}
    return (
        meta.get("labels"),
        bool(meta.get("deletionTimestamp")),
        status.get("phase"),
        ollama.get("models"),
        ollama.get("loaded"),
        status.get("activity"),
    )


def node_facts(body: Mapping[str, Any]) -> NodeFacts:
    """What the aggregation knows of one OllamaNode. An object the contract cannot read (an agent
    of another version wrote it) still counts, as a node with nothing installed and not ready."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    ollama = status.get("ollama") or {}
    # Only the parts NodeFacts reads are validated (hardware and the rest cost time, not facts).
    trimmed = {
        "metadata": {"name": meta.get("name"), "labels": meta.get("labels")},
        "spec": body.get("spec") or {},
        "status": {
            "phase": status.get("phase"),
            "ollama": {"models": ollama.get("models") or [], "loaded": ollama.get("loaded") or []},
            "activity": status.get("activity"),
        },
    }
    try:
        return NodeFacts.from_node(OllamaNode.model_validate(trimmed))
    except ValidationError as error:
        log.warning("cannot read OllamaNode %s for tasks and sets: %s", meta.get("name"), error)
        return NodeFacts(
            name=meta.get("name", ""),
            labels=dict(meta.get("labels") or {}),
            ready=False,
            installed={},
            loaded=frozenset(),
            activity=(),
        )


@dataclass
class NodeEntry:
    """One OllamaNode as last seen (or last written by us)."""

    name: str
    uid: str
    source: str
    node_name: str
    phase: str | None
    conditions: list[Condition]
    resource_version: int
    deleting: bool = False
    facts: NodeFacts | None = None
    """Labels, inventory and activity, for task and model-set statuses."""
    facts_key: tuple[Any, ...] = ()


@dataclass
class WorkEntry:
    """One OllamaTask or OllamaModelSet as last seen (or last written by us)."""

    kind: WorkKind
    name: str
    uid: str
    generation: int | None
    resource_version: int
    obj: OllamaTask | OllamaModelSet | None
    """The object as the contract reads it; None when its spec does not validate (`error`)."""
    error: str | None
    status: dict[str, Any]
    """status as stored, on the wire (what the aggregation compares its result with)."""
    deleting: bool = False

    @property
    def key(self) -> tuple[WorkKind, str]:
        return (self.kind, self.name)

    @property
    def finished(self) -> bool:
        """A task whose stored status is final for its current generation."""
        return (
            self.kind == TASK
            and self.status.get("phase") in FINISHED_TASK_PHASES
            and self.status.get("observedGeneration") == self.generation
        )


def _validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "object"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def work_entry(kind: WorkKind, body: Mapping[str, Any]) -> WorkEntry:
    meta = body.get("metadata") or {}
    obj: OllamaTask | OllamaModelSet | None = None
    error = None
    try:
        obj = (OllamaTask if kind == TASK else OllamaModelSet).model_validate(body)
    except ValidationError as invalid:
        error = _validation_message(invalid)
    generation = meta.get("generation")
    return WorkEntry(
        kind=kind,
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=generation if isinstance(generation, int) else None,
        resource_version=_rv(meta.get("resourceVersion")),
        obj=obj,
        error=error,
        status=dict(body.get("status") or {}),
        deleting=bool(meta.get("deletionTimestamp")),
    )


def _nothing() -> None:
    return None


@dataclass
class PodEntry:
    namespace: str
    name: str
    node_name: str
    ready: bool | None


@dataclass
class LeaseEntry:
    renew_time: Any
    observed_at: datetime | None
    """When we saw renewTime change (None: not since our baseline)."""


@dataclass
class FleetIndex:
    baseline: datetime
    """Since when our observations count: start, or the end of our last blind spell."""
    namespace: str = "obt"
    nodes: dict[str, NodeEntry] = field(default_factory=dict)
    node_ready: dict[str, bool | None] = field(default_factory=dict)
    pods: dict[tuple[str, str], PodEntry] = field(default_factory=dict)
    pods_by_node: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    leases: dict[str, LeaseEntry] = field(default_factory=dict)
    missing_since: dict[str, datetime] = field(default_factory=dict)
    """OllamaNode name -> when we first saw its DaemonSet agent pod missing."""
    listed: bool = False
    """True once kopf has listed every watched resource (before that, absence means nothing)."""
    tasks: dict[str, WorkEntry] = field(default_factory=dict)
    modelsets: dict[str, WorkEntry] = field(default_factory=dict)
    dirty: set[tuple[WorkKind, str]] = field(default_factory=set)
    """Tasks and sets whose status must be computed again (something they depend on changed)."""
    wake: Callable[[], None] = _nothing
    """Called when `dirty` gains members (the aggregator waits on it)."""
    _facts: dict[str, NodeFacts] | None = field(default=None, repr=False)

    # Feeding ---------------------------------------------------------------------------------

    def observe_ollamanode(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        name = meta["name"]
        rv = _rv(meta.get("resourceVersion"))
        known = self.nodes.get(name)
        if known is not None and _older(meta, known.uid, known.resource_version):
            return  # older than what we wrote ourselves: the watch is catching up
        source = spec.get("source") or "daemonset"
        facts_key = _facts_key(body)
        same = known is not None and known.uid == meta.get("uid") and known.facts_key == facts_key
        facts = known.facts if same and known is not None else node_facts(body)
        self.nodes[name] = NodeEntry(
            name=name,
            uid=meta.get("uid", ""),
            source=source,
            node_name=spec.get("nodeName") or name,
            phase=status.get("phase"),
            conditions=[Condition.model_validate(c) for c in status.get("conditions") or []],
            resource_version=rv,
            deleting=bool(meta.get("deletionTimestamp")),
            facts=facts,
            facts_key=facts_key,
        )
        if not same:
            self._node_work_changed()

    def forget_ollamanode(self, name: str) -> None:
        if self.nodes.pop(name, None) is not None:
            self._node_work_changed()
        self.missing_since.pop(name, None)

    def observe_work(self, kind: WorkKind, body: Mapping[str, Any]) -> None:
        """An OllamaTask or OllamaModelSet from the watch (or as we just wrote it)."""
        store = self.tasks if kind == TASK else self.modelsets
        meta = body.get("metadata") or {}
        known = store.get(meta["name"])
        if known is not None and _older(meta, known.uid, known.resource_version):
            return  # older than what we wrote ourselves: the watch is catching up
        entry = work_entry(kind, body)
        store[entry.name] = entry
        if kind == MODELSET:
            # Every set: the status functions are given all sets (prune plans with them).
            self._mark(self.modelsets_keys())
        else:
            self._mark([entry.key])

    def forget_work(self, kind: WorkKind, name: str) -> None:
        store = self.tasks if kind == TASK else self.modelsets
        store.pop(name, None)
        self.dirty.discard((kind, name))
        if kind == MODELSET:
            self._mark(self.modelsets_keys())

    def modelsets_keys(self) -> list[tuple[WorkKind, str]]:
        return [(MODELSET, name) for name in self.modelsets]

    def mark_all_work(self) -> None:
        """Compute every task and set again (leadership gained, a periodic resync)."""
        self._mark([e.key for e in self.tasks.values()] + self.modelsets_keys())

    def _node_work_changed(self) -> None:
        self._facts = None
        # A node's labels, inventory, activity or phase changed (or it came or went): every set
        # may select it, every task still running may target it. Finished tasks keep their status.
        self._mark([e.key for e in self.tasks.values() if not e.finished] + self.modelsets_keys())

    def _mark(self, keys: list[tuple[WorkKind, str]]) -> None:
        if keys:
            self.dirty.update(keys)
            self.wake()

    def observe_node(self, body: Mapping[str, Any]) -> None:
        self.node_ready[body["metadata"]["name"]] = _ready(
            (body.get("status") or {}).get("conditions")
        )

    def forget_node(self, name: str) -> None:
        self.node_ready.pop(name, None)

    def observe_pod(self, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        status = body.get("status") or {}
        node_name = (body.get("spec") or {}).get("nodeName")
        if (
            not node_name
            or meta.get("deletionTimestamp")
            or status.get("phase") in ("Succeeded", "Failed")
        ):
            self.forget_pod(*key)  # not (or no longer) an agent that runs somewhere
            return
        old = self.pods.get(key)
        if old is not None and old.node_name != node_name:
            self.forget_pod(*key)
        self.pods[key] = PodEntry(key[0], key[1], node_name, _ready(status.get("conditions")))
        self.pods_by_node.setdefault(node_name, set()).add(key)

    def forget_pod(self, namespace: str, name: str) -> None:
        old = self.pods.pop((namespace, name), None)
        if old is not None:
            keys = self.pods_by_node.get(old.node_name)
            if keys is not None:
                keys.discard((namespace, name))
                if not keys:
                    del self.pods_by_node[old.node_name]

    def observe_lease(self, body: Mapping[str, Any], now: datetime, initial: bool) -> None:
        """`initial`: from kopf's initial listing, which shows the Lease, not a renewal."""
        meta = body["metadata"]
        name = meta["name"]
        if meta.get("namespace") != self.namespace or not name.startswith(LEASE_PREFIX):
            return
        host = name[len(LEASE_PREFIX) :]
        renew_time = (body.get("spec") or {}).get("renewTime")
        old = self.leases.get(host)
        if old is None:
            self.leases[host] = LeaseEntry(renew_time, None if initial else now)
        elif old.renew_time != renew_time:
            old.renew_time = renew_time
            old.observed_at = now

    def forget_lease(self, namespace: str, name: str) -> None:
        if namespace == self.namespace and name.startswith(LEASE_PREFIX):
            self.leases.pop(name[len(LEASE_PREFIX) :], None)

    # Reading -----------------------------------------------------------------------------------

    def reset_clocks(self, now: datetime) -> None:
        """Start measuring silence afresh (after a restart or a blind spell of our own)."""
        self.baseline = now
        self.missing_since.clear()
        for lease in self.leases.values():
            lease.observed_at = None

    def agent_pod(self, node_name: str) -> PodEntry | None:
        """The best agent pod on a Node: a Ready one if any (a rolling update may run two)."""
        best: PodEntry | None = None
        for key in self.pods_by_node.get(node_name, ()):
            pod = self.pods[key]
            if best is None or (pod.ready is True and best.ready is not True):
                best = pod
        return best

    def facts_by_name(self) -> Mapping[str, NodeFacts]:
        """Every OllamaNode's facts by name (those being deleted are gone for tasks and sets);
        built again only after a node's facts changed."""
        if self._facts is None:
            self._facts = {
                entry.name: entry.facts
                for entry in self.nodes.values()
                if entry.facts is not None and not entry.deleting
            }
        return self._facts

    def __iter__(self) -> Iterator[NodeEntry]:
        return iter(list(self.nodes.values()))

    def __len__(self) -> int:
        return len(self.nodes)
