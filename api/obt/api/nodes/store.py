"""The one write path into the node tables, shared by the mirror, agent ingress and seeding.

Every write is an idempotent upsert keyed by name: `INSERT ... ON CONFLICT DO UPDATE` that does
nothing when the stored resourceVersion/digest already matches, so replaying a watch or a relist
costs a read, not a write. Child rows (models, GPUs, labels) are replaced only when the node
changed. Each committed change is announced on the event bus (see events/bus.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from obt.api.db.engine import write_session
from obt.api.db.tables import (
    FleetGeneration,
    Node,
    NodeChange,
    NodeConditionEvent,
    NodeCredential,
    NodeGpu,
    NodeLabel,
    NodeLoadedModel,
    NodeModel,
    Tombstone,
)
from obt.api.events.bus import CHANNEL, EventBus
from obt.core.models import Condition, OllamaNodeSpec, OllamaNodeStatus
from obt.core.models.ollama import model_to_line
from obt.core.summary import summarize

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class NodeRecord:
    """A node as any source knows it: Kubernetes object fields or an agent report."""

    name: str
    spec: dict[str, Any]
    status: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    report_digest: str | None = None
    last_seen_at: datetime | None = None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> NodeRecord:
        meta = obj.get("metadata") or {}
        return cls(
            name=meta["name"],
            spec=obj.get("spec") or {},
            status=obj.get("status") or {},
            labels=dict(meta.get("labels") or {}),
            uid=meta.get("uid"),
            resource_version=meta.get("resourceVersion"),
        )


@dataclass
class _Derived:
    values: dict[str, Any]
    models: list[dict[str, Any]]
    loaded: list[dict[str, Any]]
    gpus: list[dict[str, Any]]
    status: OllamaNodeStatus


def _derive(record: NodeRecord, now: datetime) -> _Derived:
    spec = OllamaNodeSpec.model_validate(record.spec or {"source": "standalone"})
    status = OllamaNodeStatus.model_validate(record.status)
    hardware, ollama = status.hardware, status.ollama
    summary = summarize(hardware, ollama)
    gpus = hardware.gpus if hardware else []
    models = ollama.models if ollama else []
    loaded = ollama.loaded if ollama else []
    mem = hardware.memory if hardware else None
    models_canon = json.dumps(
        [[model_to_line(m) for m in models], [m.to_wire() for m in loaded]], sort_keys=True
    )
    search = " ".join(
        [record.name, spec.display_name or "", spec.host_id or ""]
        + [g.name for g in gpus]
        + [m.name for m in models]
    ).lower()
    values = {
        "name": record.name,
        "uid": record.uid,
        "resource_version": record.resource_version,
        "source": spec.source,
        "display_name": spec.display_name,
        "host_id": spec.host_id,
        "phase": status.phase or "Pending",
        "ollama_version": ollama.version if ollama else None,
        "ollama_reachable": bool(ollama and ollama.reachable),
        "gpu_count": len(gpus),
        "gpu_summary": summary.gpus[:512],
        "vram_total_bytes": summary.vram_total_bytes,
        "vram_loaded_bytes": summary.vram_loaded_bytes,
        "vram_free_bytes": max(0, summary.vram_total_bytes - summary.vram_loaded_bytes),
        "ram_total_bytes": (mem.total_bytes or 0) if mem else 0,
        "ram_available_bytes": (mem.available_bytes or 0) if mem else 0,
        "model_count": len(models),
        "loaded_count": len(loaded),
        "os_summary": summary.os[:256],
        "cpu_summary": summary.cpu[:256],
        "agent_version": status.agent.version if status.agent else None,
        "search_text": search,
        "labels": record.labels,
        "spec": spec.to_wire(),
        "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
        "report_digest": record.report_digest,
        "models_digest": hashlib.sha256(models_canon.encode()).hexdigest(),
        "updated_at": now,
        "last_seen_at": record.last_seen_at,
    }
    return _Derived(
        values=values,
        models=[
            {
                "node_name": record.name,
                "name": m.name,
                "digest": m.digest,
                "size": m.size,
                "family": m.family,
                "parameter_size": m.parameter_size,
                "quantization_level": m.quantization_level,
                "modified_at": m.modified_at,
            }
            for m in {m.name: m for m in models}.values()
        ],
        loaded=[
            {
                "node_name": record.name,
                "name": m.name,
                "digest": m.digest,
                "size": m.size,
                "size_vram": m.size_vram,
                "context_length": m.context_length,
                "expires_at": m.expires_at,
            }
            for m in {m.name: m for m in loaded}.values()
        ],
        gpus=[
            {
                "node_name": record.name,
                "index": i,
                "vendor": g.vendor,
                "name": g.name,
                "memory_total_bytes": g.memory_total_bytes,
            }
            for i, g in enumerate(gpus)
        ],
        status=status,
    )


# Child tables and the key of a row within its node.
_CHILDREN: dict[Any, Any] = {
    NodeModel: lambda row: row["name"],
    NodeLoadedModel: lambda row: row["name"],
    NodeGpu: lambda row: row["index"],
    NodeLabel: lambda row: row["key"],
}
_KEY_COLUMN = {NodeModel: "name", NodeLoadedModel: "name", NodeGpu: "index", NodeLabel: "key"}


def _key_params(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    return {"k_node": row["node_name"], "k_key": row[_KEY_COLUMN[table]]}


def _delete_by_key(table: Any) -> Any:
    column = getattr(table, _KEY_COLUMN[table])
    return delete(table).where(table.node_name == bindparam("k_node"), column == bindparam("k_key"))


_CHANGES = ("node.upserted", "node.deleted")  # the events that change what the list matches


def _insert_for(session: AsyncSession) -> Any:
    name = session.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert


class NodeStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self.sessions = sessions
        self.bus = bus
        self.dialect = sessions.kw["bind"].dialect.name
        self.writes = 0  # committed node writes, for /metrics and the "no double write" tests

    # -- events -------------------------------------------------------------------------
    async def _announce(self, session: AsyncSession, events: list[dict[str, Any]]) -> None:
        """Last statements of every write transaction: raise the fleet generation, record it for
        the node names written or removed (`node_changes`: the list's kept match sets,
        nodes/service.py) and, on PostgreSQL, queue the NOTIFYs. Last, so that the generation
        row is locked only until the commit, before any `node_changes` row (one lock order).
        Holding that lock to the commit orders generations as commits are ordered, so a reader
        that sees generation G sees every change recorded with G or lower."""
        if events:
            await session.execute(
                update(FleetGeneration)
                .where(FleetGeneration.id == 1)
                .values(generation=FleetGeneration.generation + 1)
            )
            generation = (
                await session.execute(
                    select(FleetGeneration.generation).where(FleetGeneration.id == 1)
                )
            ).scalar_one_or_none()
            names = sorted({e["name"] for e in events if e["type"] in _CHANGES})
            if generation is not None and names:
                ins = _insert_for(session)(NodeChange)
                await session.execute(
                    ins.values(
                        [{"name": n, "generation": generation} for n in names]
                    ).on_conflict_do_update(
                        index_elements=["name"], set_={"generation": ins.excluded.generation}
                    )
                )
        if self.dialect == "postgresql" and events:
            # One statement for the whole batch (NOTIFYs are sent in this order at commit).
            await session.execute(
                text(
                    "SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[]))"
                    " WITH ORDINALITY AS t(p, i) ORDER BY i"
                ),
                {
                    "channel": CHANNEL,
                    "payloads": [json.dumps(event, default=str) for event in events],
                },
            )

    def _after_commit(self, events: list[dict[str, Any]]) -> None:
        if self.dialect != "postgresql":
            for event in events:
                self.bus.deliver(event)

    # -- writes -------------------------------------------------------------------------
    async def upsert(self, record: NodeRecord) -> bool:
        """Write one node; False when the stored row already said the same."""
        async with write_session(self.sessions) as session:
            events = await self.upsert_in(session, record)
            await self._announce(session, events)
        self._after_commit(events)
        return bool(events)

    async def upsert_many(self, records: Iterable[NodeRecord], *, chunk: int = 250) -> int:
        """Write many nodes, `chunk` per transaction: a 5,000-node seed must not hold SQLite's
        one write lock for half a minute while heartbeat flushes and reports wait."""
        changed = 0
        pending = list(records)
        for start in range(0, len(pending), chunk):
            async with write_session(self.sessions) as session:
                events: list[dict[str, Any]] = []
                # Distinct names per batch: the last record of a name wins.
                batch = list({r.name: r for r in pending[start : start + chunk]}.values())
                events = await self.upsert_batch_in(session, batch)
                changed += sum(e["type"] == "node.upserted" for e in events)
                await self._announce(session, events)
            self._after_commit(events)
        return changed

    async def upsert_in(self, session: AsyncSession, record: NodeRecord) -> list[dict[str, Any]]:
        return await self.upsert_batch_in(session, [record])

    async def upsert_batch_in(
        self, session: AsyncSession, records: list[NodeRecord]
    ) -> list[dict[str, Any]]:
        """Write nodes (distinct names) in the caller's transaction; returns their events.

        A fixed number of statements per batch, whatever its size: one read of the stored
        nodes, one per child table for the nodes that changed, then batched writes. Unchanged
        nodes are skipped; of a changed node only the child rows that differ are written.
        """
        if not records:
            return []
        now = utcnow()
        names = [r.name for r in records]
        priors = {
            row.name: row
            for row in (
                await session.execute(
                    select(
                        Node.name,
                        Node.resource_version,
                        Node.report_digest,
                        Node.phase,
                        Node.phase_since,
                        Node.created_at,
                        Node.models_digest,
                        Node.status,
                        Node.labels,
                        Node.spec,
                    ).where(Node.name.in_(names))
                )
            ).all()
        }
        changed: list[tuple[NodeRecord, _Derived, Any]] = []
        for record in records:
            derived = _derive(record, now)
            values = derived.values
            prior = priors.get(record.name)
            if prior is not None and (
                prior.resource_version == values["resource_version"]
                and prior.report_digest == values["report_digest"]
                and prior.status == values["status"]
                and prior.labels == values["labels"]
                and prior.spec == values["spec"]
            ):
                continue
            changed.append((record, derived, prior))
        if not changed:
            return []
        existing = [r.name for r, _, p in changed if p is not None]
        stored = {t: await self._children(session, t, existing) for t in _CHILDREN}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        child_inserts: dict[Any, list[dict[str, Any]]] = {t: [] for t in _CHILDREN}
        child_deletes: dict[Any, list[dict[str, Any]]] = {t: [] for t in _CHILDREN}
        history: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for record, derived, prior in changed:
            values = derived.values
            phase_changed = prior is None or prior.phase != values["phase"]
            values["phase_since"] = now if phase_changed else prior.phase_since
            values["created_at"] = now if prior is None else prior.created_at
            (inserts if prior is None else updates).append(values)
            wanted = {
                NodeModel: derived.models,
                NodeLoadedModel: derived.loaded,
                NodeGpu: derived.gpus,
                NodeLabel: [
                    {"node_name": record.name, "key": k, "value": str(v)[:63]}
                    for k, v in record.labels.items()
                ],
            }
            for table, rows in wanted.items():
                key_of = _CHILDREN[table]
                have = stored[table].get(record.name, {})
                want = {key_of(row): row for row in rows}
                for key, row in want.items():
                    old = have.get(key)
                    if old is None:
                        child_inserts[table].append(row)
                    elif old != row:
                        child_deletes[table].append(_key_params(table, row))
                        child_inserts[table].append(row)
                for key, old in have.items():
                    if key not in want:
                        child_deletes[table].append(_key_params(table, old))
            if phase_changed:
                ready = next((c for c in derived.status.conditions if c.type == "Ready"), None)
                history.append(
                    {
                        "node_name": record.name,
                        "phase": values["phase"],
                        "reason": ready.reason if ready else "",
                        "message": ready.message if ready else "",
                        "at": now,
                    }
                )
            base = {
                "name": record.name,
                "phase": values["phase"],
                "resourceVersion": record.resource_version,
                "at": now.isoformat(),
            }
            events.append({"type": "node.upserted", **base, "created": prior is None})
            if prior is None or prior.models_digest != values["models_digest"]:
                events.append({"type": "models.changed", **base})
        conn = await session.connection()
        if inserts:
            await conn.execute(insert(Node), inserts)
        if updates:
            columns = [k for k in updates[0] if k not in ("name", "created_at")]
            node_columns = Node.__table__.c
            await conn.execute(
                update(Node)
                .where(Node.name == bindparam("b_name"))
                .values({k: bindparam(f"v_{k}", type_=node_columns[k].type) for k in columns}),
                [{"b_name": u["name"], **{f"v_{k}": u[k] for k in columns}} for u in updates],
            )
        for table, params in child_deletes.items():
            if params:
                await conn.execute(_delete_by_key(table), params)
        for table, rows in child_inserts.items():
            if rows:
                await conn.execute(insert(table), rows)
        if history:
            await conn.execute(insert(NodeConditionEvent), history)
        # A node that comes back is no longer removed.
        await conn.execute(
            delete(Tombstone).where(Tombstone.name.in_([r.name for r, _, _ in changed]))
        )
        self.writes += len(changed)
        return events

    @staticmethod
    async def _children(
        session: AsyncSession, table: Any, names: list[str]
    ) -> dict[str, dict[Any, dict[str, Any]]]:
        """The stored child rows of `names`, as node -> key -> row (the shape `_derive` gives)."""
        out: dict[str, dict[Any, dict[str, Any]]] = {}
        if not names:
            return out
        columns = list(table.__table__.columns)
        key_of = _CHILDREN[table]
        rows = await session.execute(select(*columns).where(table.node_name.in_(names)))
        for row in rows.mappings():
            item = dict(row)
            out.setdefault(item["node_name"], {})[key_of(item)] = item
        return out

    async def remove(self, name: str, reason: str) -> bool:
        """Delete a node and leave a tombstone; False when there was no such node."""
        async with write_session(self.sessions) as session:
            events = await self.remove_in(session, name, reason)
            await self._announce(session, events)
        self._after_commit(events)
        return bool(events)

    async def remove_in(
        self, session: AsyncSession, name: str, reason: str
    ) -> list[dict[str, Any]]:
        """Delete a node in the caller's transaction, leaving a tombstone with its last known
        status, and forget the report digest its agent sent (`node_credentials.last_digest`),
        so that the agent's next heartbeat is asked for its full report: a host that comes
        back is listed again by itself (agents/ingest.py clears its in-memory copy on the
        `node.deleted` event)."""
        row = (await session.execute(select(Node).where(Node.name == name))).scalar_one_or_none()
        if row is None:
            return []
        now = utcnow()
        heartbeat = (
            await session.execute(
                select(NodeCredential.last_heartbeat_at).where(NodeCredential.node_name == name)
            )
        ).scalar_one_or_none()
        # Last seen: the last heartbeat or report (standalone), else when a silent node stopped
        # being Ready (DaemonSet nodes: the kubelet's signals, not ours).
        last_seen = row.last_seen_at or heartbeat
        if last_seen is None and row.phase != "Ready":
            last_seen = row.phase_since
        kept = {
            "uid": row.uid,
            "source": row.source,
            "reason": reason,
            "removed_at": now,
            "last_status": row.status,
            "display_name": row.display_name,
            "last_seen_at": last_seen,
        }
        ins = _insert_for(session)(Tombstone).values(name=name, **kept)
        await session.execute(ins.on_conflict_do_update(index_elements=["name"], set_=kept))
        await session.execute(delete(Node).where(Node.name == name))
        await session.execute(
            update(NodeCredential).where(NodeCredential.node_name == name).values(last_digest=None)
        )
        self.writes += 1
        return [
            {
                "type": "node.deleted",
                "name": name,
                "source": row.source,
                "reason": reason,
                "at": now.isoformat(),
            }
        ]

    async def set_phase(
        self, name: str, phase: str, conditions: list[Condition], at: datetime
    ) -> bool:
        """Local mode's liveness verdicts (cluster mode: the operator writes phase in the CR)."""
        async with write_session(self.sessions) as session:
            row = (
                await session.execute(select(Node).where(Node.name == name))
            ).scalar_one_or_none()
            if row is None:
                return False
            status = dict(row.status)
            status["phase"] = phase
            status["conditions"] = [c.to_wire() for c in conditions]
            ready = next((c for c in conditions if c.type == "Ready"), None)
            row.status = status
            if row.phase != phase:
                row.phase = phase
                row.phase_since = at
                session.add(
                    NodeConditionEvent(
                        node_name=name,
                        phase=phase,
                        reason=ready.reason if ready else "",
                        message=ready.message if ready else "",
                        at=at,
                    )
                )
            row.updated_at = at
            self.writes += 1
            events = [{"type": "node.upserted", "name": name, "phase": phase, "at": at.isoformat()}]
            await self._announce(session, events)
        self._after_commit(events)
        return True

    async def set_activity(self, name: str, activity: list[dict[str, Any]]) -> bool | None:
        """Local mode: a standalone node's `status.activity` as its agent sent it (agents/
        PUT .../activity). None: no such node; False: the same list was stored already."""
        async with write_session(self.sessions) as session:
            row = (
                await session.execute(select(Node).where(Node.name == name))
            ).scalar_one_or_none()
            if row is None:
                return None
            status = dict(row.status or {})
            if (status.get("activity") or []) == activity:
                return False
            if activity:
                status["activity"] = activity
            else:
                status.pop("activity", None)
            now = utcnow()
            row.status = status
            row.updated_at = now
            self.writes += 1
            events = [
                {
                    "type": "node.upserted",
                    "name": name,
                    "phase": row.phase,
                    "activity": True,
                    "at": now.isoformat(),
                }
            ]
            await self._announce(session, events)
        self._after_commit(events)
        return True

    async def names(self) -> set[str]:
        async with self.sessions() as session:
            return set((await session.execute(select(Node.name))).scalars())
