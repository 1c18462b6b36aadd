"""The operator's in-memory picture of the fleet, fed by kopf's watch events. No I/O, no kopf.

Every time stored here is on the operator's own clock (`now` passed in by the caller); timestamps
that others wrote into objects (a Lease's renewTime, a condition's lastTransitionTime) are compared
for *change* only, never for their value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from obt.core.models import Condition

STANDALONE_LEASE_LABEL = "obt.dev/standalone-host"
"""The label on standalone heartbeat Leases (the operator watches only those)."""
LEASE_PREFIX = "obt-node-"
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

    # Feeding ---------------------------------------------------------------------------------

    def observe_ollamanode(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        name = meta["name"]
        rv = _rv(meta.get("resourceVersion"))
        known = self.nodes.get(name)
        if (
            known is not None
            and known.uid == meta.get("uid")
            and rv != -1
            and rv < known.resource_version
        ):
            return  # older than what we wrote ourselves: the watch is catching up
        source = spec.get("source") or "daemonset"
        self.nodes[name] = NodeEntry(
            name=name,
            uid=meta.get("uid", ""),
            source=source,
            node_name=spec.get("nodeName") or name,
            phase=status.get("phase"),
            conditions=[Condition.model_validate(c) for c in status.get("conditions") or []],
            resource_version=rv,
            deleting=bool(meta.get("deletionTimestamp")),
        )

    def forget_ollamanode(self, name: str) -> None:
        self.nodes.pop(name, None)
        self.missing_since.pop(name, None)

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

    def __iter__(self) -> Iterator[NodeEntry]:
        return iter(list(self.nodes.values()))

    def __len__(self) -> int:
        return len(self.nodes)
