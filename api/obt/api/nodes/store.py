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

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from obt.api.db.tables import (
    Node,
    NodeConditionEvent,
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
        if self.dialect == "postgresql":
            for event in events:
                await session.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": CHANNEL, "payload": json.dumps(event, default=str)},
                )

    def _after_commit(self, events: list[dict[str, Any]]) -> None:
        if self.dialect != "postgresql":
            for event in events:
                self.bus.deliver(event)

    # -- writes -------------------------------------------------------------------------
    async def upsert(self, record: NodeRecord) -> bool:
        """Write one node; False when the stored row already said the same."""
        async with self.sessions() as session, session.begin():
            events = await self.upsert_in(session, record)
            await self._announce(session, events)
        self._after_commit(events)
        return bool(events)

    async def upsert_many(self, records: Iterable[NodeRecord]) -> int:
        changed = 0
        async with self.sessions() as session, session.begin():
            events: list[dict[str, Any]] = []
            for record in records:
                got = await self.upsert_in(session, record)
                changed += bool(got)
                events += got
            await self._announce(session, events)
        self._after_commit(events)
        return changed

    async def upsert_in(self, session: AsyncSession, record: NodeRecord) -> list[dict[str, Any]]:
        now = utcnow()
        derived = _derive(record, now)
        values = derived.values
        prior = (
            await session.execute(
                select(
                    Node.resource_version,
                    Node.report_digest,
                    Node.phase,
                    Node.models_digest,
                    Node.status,
                    Node.labels,
                    Node.spec,
                ).where(Node.name == record.name)
            )
        ).one_or_none()
        if prior is not None and (
            prior.resource_version == values["resource_version"]
            and prior.report_digest == values["report_digest"]
            and prior.status == values["status"]
            and prior.labels == values["labels"]
            and prior.spec == values["spec"]
        ):
            return []
        phase_changed = prior is None or prior.phase != values["phase"]
        if phase_changed:
            values["phase_since"] = now
        if prior is None:
            values["created_at"] = now
            await session.execute(insert(Node).values(**values))
        else:
            await session.execute(update(Node).where(Node.name == record.name).values(**values))
            for table in (NodeModel, NodeLoadedModel, NodeGpu, NodeLabel):
                await session.execute(delete(table).where(table.node_name == record.name))
        for table, rows in (
            (NodeModel, derived.models),
            (NodeLoadedModel, derived.loaded),
            (NodeGpu, derived.gpus),
            (
                NodeLabel,
                [
                    {"node_name": record.name, "key": k, "value": str(v)[:63]}
                    for k, v in record.labels.items()
                ],
            ),
        ):
            if rows:
                await session.execute(insert(table), rows)
        if phase_changed:
            ready = next(
                (c for c in derived.status.conditions if c.type == "Ready"),
                None,
            )
            session.add(
                NodeConditionEvent(
                    node_name=record.name,
                    phase=values["phase"],
                    reason=ready.reason if ready else "",
                    message=ready.message if ready else "",
                    at=now,
                )
            )
        # A node that comes back is no longer removed.
        await session.execute(delete(Tombstone).where(Tombstone.name == record.name))
        self.writes += 1
        base = {
            "name": record.name,
            "phase": values["phase"],
            "resourceVersion": record.resource_version,
            "at": now.isoformat(),
        }
        events = [{"type": "node.upserted", **base, "created": prior is None}]
        if prior is None or prior.models_digest != values["models_digest"]:
            events.append({"type": "models.changed", **base})
        return events

    async def remove(self, name: str, reason: str) -> bool:
        """Delete a node and leave a tombstone; False when there was no such node."""
        async with self.sessions() as session, session.begin():
            events = await self.remove_in(session, name, reason)
            await self._announce(session, events)
        self._after_commit(events)
        return bool(events)

    async def remove_in(
        self, session: AsyncSession, name: str, reason: str
    ) -> list[dict[str, Any]]:
        row = (await session.execute(select(Node).where(Node.name == name))).scalar_one_or_none()
        if row is None:
            return []
        now = utcnow()
        ins = _insert_for(session)(Tombstone).values(
            name=name,
            uid=row.uid,
            source=row.source,
            reason=reason,
            removed_at=now,
            last_status=row.status,
        )
        await session.execute(
            ins.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "uid": row.uid,
                    "reason": reason,
                    "removed_at": now,
                    "last_status": row.status,
                },
            )
        )
        await session.execute(delete(Node).where(Node.name == name))
        self.writes += 1
        return [{"type": "node.deleted", "name": name, "reason": reason, "at": now.isoformat()}]

    async def set_phase(
        self, name: str, phase: str, conditions: list[Condition], at: datetime
    ) -> bool:
        """Local mode's liveness verdicts (cluster mode: the operator writes phase in the CR)."""
        async with self.sessions() as session, session.begin():
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

    async def names(self) -> set[str]:
        async with self.sessions() as session:
            return set((await session.execute(select(Node.name))).scalars())
