"""Tasks and model sets in SQL: the one write path into `tasks` and `model_sets` (migration 0009).

Local mode: these rows are the objects (the REST routes and the local reconciler write them).
Cluster mode: they are the mirror's copies of the custom resources (cluster/mirror.py), plus the
API's own write-through after it created or changed one, so that a client reads what it wrote.

Every committed change is an event on the bus (`task.changed`, `task.progress`,
`modelset.changed`); a change to what agents should do also raises the work generation (one row,
`work_generation`) in the same transaction, and its events carry the new number, so every replica
learns it from the bus (PostgreSQL NOTIFY) and the heartbeat answer stays an in-memory read.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from obt.api.cluster.mirror import is_older
from obt.api.db.engine import write_session
from obt.api.db.tables import ModelSetRow, TaskRow, WorkGeneration
from obt.api.events.bus import CHANNEL, EventBus
from obt.api.nodes.store import utcnow
from obt.core.models.actions import OllamaModelSet, OllamaTask
from obt.core.names import API_VERSION

TASK = "OllamaTask"
MODELSET = "OllamaModelSet"
Row = TaskRow | ModelSetRow


@dataclass(frozen=True)
class KindTable:
    kind: str
    table: type[TaskRow] | type[ModelSetRow]
    event: str  # the event type of a created/changed/deleted object
    word: str  # how a message names one ("task", "model set")


KINDS = {
    TASK: KindTable(TASK, TaskRow, "task.changed", "task"),
    MODELSET: KindTable(MODELSET, ModelSetRow, "modelset.changed", "model set"),
}


class Conflict(Exception):
    """An object of that name exists already."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def to_wire(kind: str, row: Row) -> dict[str, Any]:
    """The object as Kubernetes would answer it (no nulls)."""
    meta: dict[str, Any] = {
        "name": row.name,
        "uid": row.uid,
        "generation": row.generation,
        "creationTimestamp": _iso(row.created_at),
    }
    if row.resource_version:
        meta["resourceVersion"] = row.resource_version
    if row.labels:
        meta["labels"] = dict(row.labels)
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": meta,
        "spec": row.spec,
        "status": row.status or {},
    }


def task_from(row: TaskRow) -> OllamaTask:
    return OllamaTask.model_validate(to_wire(TASK, row))


def modelset_from(row: ModelSetRow) -> OllamaModelSet:
    return OllamaModelSet.model_validate(to_wire(MODELSET, row))


def new_uid() -> str:
    return str(uuid.uuid4())


def random_suffix(n: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # no vowels: no words by accident
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _task_columns(spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    finished = status.get("completionTime")
    return {
        "action": str(spec.get("action", ""))[:16],
        "phase": str(status.get("phase") or "Pending")[:16],
        "finished_at": datetime.fromisoformat(finished.replace("Z", "+00:00"))
        if isinstance(finished, str)
        else None,
    }


class ActionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self.sessions = sessions
        self.bus = bus
        self.dialect = sessions.kw["bind"].dialect.name
        self.work_generation = 0  # the newest this process knows (heartbeat answers)
        self.status_writes = 0  # committed status writes, for /metrics and tests
        bus.listen(self._on_event)

    # -- the work generation --------------------------------------------------------------
    async def load(self) -> None:
        async with self.sessions() as session:
            value = (
                await session.execute(
                    select(WorkGeneration.generation).where(WorkGeneration.id == 1)
                )
            ).scalar_one_or_none()
        self.work_generation = max(self.work_generation, int(value or 0))

    def _on_event(self, event: dict[str, Any]) -> None:
        value = event.get("workGeneration")
        if isinstance(value, int) and value > self.work_generation:
            self.work_generation = value

    async def _announce(
        self, session: AsyncSession, events: list[dict[str, Any]], *, work: bool
    ) -> None:
        """Last statements of a write transaction: raise the work generation (when agents'
        work changed) and, on PostgreSQL, queue the NOTIFYs."""
        if not events:
            return
        if work:
            await session.execute(
                update(WorkGeneration)
                .where(WorkGeneration.id == 1)
                .values(generation=WorkGeneration.generation + 1)
            )
            value = (
                await session.execute(
                    select(WorkGeneration.generation).where(WorkGeneration.id == 1)
                )
            ).scalar_one()
            for event in events:
                event["workGeneration"] = int(value)
        if self.dialect == "postgresql":
            await session.execute(
                text(
                    "SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[]))"
                    " WITH ORDINALITY AS t(p, i) ORDER BY i"
                ),
                {"channel": CHANNEL, "payloads": [json.dumps(e, default=str) for e in events]},
            )

    def after_commit(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._on_event(event)  # at once here; other replicas learn it from NOTIFY
            if self.dialect != "postgresql":
                self.bus.deliver(event)

    async def commit_events(
        self, session: AsyncSession, events: list[dict[str, Any]], *, work: bool
    ) -> None:
        await self._announce(session, events, work=work)

    # -- reads ----------------------------------------------------------------------------
    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        async with self.sessions() as session:
            row = await _get(session, KINDS[kind], name)
            return to_wire(kind, row) if row is not None else None

    async def page(
        self,
        kind: str,
        *,
        limit: int,
        offset: int,
        phase: Sequence[str] | None = None,
        action: Sequence[str] | None = None,
        search: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first; `total` counts every match."""
        table = KINDS[kind].table
        where: list[Any] = []
        if kind == TASK:
            if phase:
                where.append(TaskRow.phase.in_(list(phase)))
            if action:
                where.append(TaskRow.action.in_(list(action)))
        if search:
            where.append(func.lower(table.name).contains(search.lower(), autoescape=True))
        async with self.sessions() as session:
            total = (
                await session.execute(select(func.count()).select_from(table).where(*where))
            ).scalar_one()
            rows = (
                await session.execute(
                    select(table)
                    .where(*where)
                    .order_by(table.created_at.desc(), table.name)
                    .limit(limit)
                    .offset(offset)
                )
            ).scalars()
            return [to_wire(kind, cast(Row, r)) for r in rows], int(total)

    async def tasks(self) -> list[OllamaTask]:
        async with self.sessions() as session:
            rows = (await session.execute(select(TaskRow).order_by(TaskRow.name))).scalars()
            return [task_from(r) for r in rows]

    async def model_sets(self) -> list[OllamaModelSet]:
        async with self.sessions() as session:
            rows = (await session.execute(select(ModelSetRow).order_by(ModelSetRow.name))).scalars()
            return [modelset_from(r) for r in rows]

    # -- writes of people's objects (local mode; cluster mode's write-through) --------------
    async def create(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object (metadata.name set); Conflict when the name is taken."""
        info = KINDS[kind]
        meta = obj["metadata"]
        now = utcnow()
        async with write_session(self.sessions) as session:
            if await _get(session, info, meta["name"]) is not None:
                raise Conflict(f"metadata.name: a {info.word} named {meta['name']!r} exists")
            row = self._row(kind, obj, now)
            session.add(row)
            await session.flush()
            events = [self._event(info, row.name, "created", row)]
            await self._announce(session, events, work=True)
            wire = to_wire(kind, row)
        self.after_commit(events)
        return wire

    def _row(self, kind: str, obj: dict[str, Any], now: datetime) -> Row:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        created = meta.get("creationTimestamp")
        values: dict[str, Any] = {
            "name": meta["name"],
            "uid": meta.get("uid") or new_uid(),
            "resource_version": meta.get("resourceVersion"),
            "generation": int(meta.get("generation") or 1),
            "labels": dict(meta.get("labels") or {}),
            "spec": spec,
            "status": status,
            "created_at": datetime.fromisoformat(created.replace("Z", "+00:00"))
            if isinstance(created, str)
            else now,
            "updated_at": now,
        }
        if kind == TASK:
            return TaskRow(**values, **_task_columns(spec, status))
        return ModelSetRow(**values)

    def _event(self, info: KindTable, name: str, change: str, row: Row | None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": info.event,
            "name": name,
            "change": change,
            "at": utcnow().isoformat(),
        }
        if isinstance(row, TaskRow):
            event["phase"] = row.phase
        return event

    async def replace_spec(
        self,
        kind: str,
        name: str,
        spec: dict[str, Any],
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """New spec (and labels, when given); metadata.generation rises when the spec changed.
        None when there is no such object."""
        info = KINDS[kind]
        async with write_session(self.sessions) as session:
            row = await _get(session, info, name, lock=self.dialect != "sqlite")
            if row is None:
                return None
            changed = row.spec != spec
            events: list[dict[str, Any]] = []
            if changed or (labels is not None and labels != row.labels):
                if changed:
                    row.spec = spec
                    row.generation += 1
                if labels is not None:
                    row.labels = labels
                row.updated_at = utcnow()
                await session.flush()
                events = [self._event(info, name, "updated", row)]
                await self._announce(session, events, work=True)
            wire = to_wire(kind, row)
        self.after_commit(events)
        return wire

    async def delete(self, kind: str, name: str) -> bool:
        async with write_session(self.sessions) as session:
            events = await self.remove_in(session, kind, [name])
            if not events:
                return False
            await self._announce(session, events, work=True)
        self.after_commit(events)
        return True

    async def set_status(
        self, kind: str, name: str, status: dict[str, Any], *, work: bool, generation: int
    ) -> bool:
        """The reconciler's write: only when the status differs and the spec it was computed
        from (metadata.generation) is still the stored one. Events: `task.progress` or
        `modelset.changed` (change "status"); `work`: the agents' assignments changed."""
        info = KINDS[kind]
        async with write_session(self.sessions) as session:
            row = await _get(session, info, name)
            if row is None or row.status == status or row.generation != generation:
                return False
            row.status = status
            row.updated_at = utcnow()
            if isinstance(row, TaskRow):
                columns = _task_columns(row.spec, status)
                row.phase = columns["phase"]
                row.finished_at = columns["finished_at"]
            await session.flush()
            event = self._event(info, name, "status", row)
            if kind == TASK:
                event["type"] = "task.progress"
            event.update(_counts(status))
            events = [event]
            await self._announce(session, events, work=work)
        self.status_writes += 1
        self.after_commit(events)
        return True

    # -- the mirror's writes (cluster mode) -------------------------------------------------
    async def upsert_in(
        self, session: AsyncSession, kind: str, objs: Sequence[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], bool]:
        """Write the objects as the API server has them (skipping ones the row already holds at
        that resourceVersion or newer); returns the events and whether agents' work changed."""
        info = KINDS[kind]
        events: list[dict[str, Any]] = []
        work = False
        now = utcnow()
        for obj in objs:
            meta = obj.get("metadata") or {}
            name = meta.get("name")
            if not name:
                continue
            row = await _get(session, info, name)
            fresh = self._row(kind, obj, now)
            if row is None:
                # The mirror and a write-through may insert the same new object at once.
                insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
                values = {c.key: getattr(fresh, c.key) for c in info.table.__table__.columns}
                done = await session.execute(
                    insert(info.table)
                    .values(**values)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
                if getattr(done, "rowcount", 1):
                    events.append(self._event(info, name, "created", fresh))
                    work = True
                    continue
                row = await _get(session, info, name)
                if row is None:
                    continue
            if _same_or_older(fresh.resource_version, row.resource_version) and (
                row.spec == fresh.spec and row.status == fresh.status
            ):
                continue
            if is_older(fresh.resource_version, row.resource_version):
                continue
            spec_changed = row.spec != fresh.spec or row.uid != fresh.uid
            labels_changed = row.labels != fresh.labels
            status_changed = row.status != fresh.status
            admitted_changed = (row.status or {}).get("admitted") != (fresh.status or {}).get(
                "admitted"
            ) or (row.status or {}).get("phase") != (fresh.status or {}).get("phase")
            for column in ("uid", "resource_version", "generation", "labels", "spec", "status"):
                setattr(row, column, getattr(fresh, column))
            row.updated_at = now
            if isinstance(row, TaskRow) and isinstance(fresh, TaskRow):
                row.action, row.phase, row.finished_at = (
                    fresh.action,
                    fresh.phase,
                    fresh.finished_at,
                )
            if spec_changed or labels_changed:
                events.append(self._event(info, name, "updated", row))
            if status_changed:
                event = self._event(info, name, "status", row)
                if kind == TASK:
                    event["type"] = "task.progress"
                event.update(_counts(fresh.status or {}))
                events.append(event)
            work = work or spec_changed or admitted_changed
        await session.flush()
        return events, work

    async def remove_in(
        self, session: AsyncSession, kind: str, names: Sequence[str]
    ) -> list[dict[str, Any]]:
        info = KINDS[kind]
        events = []
        for name in names:
            # A statement, not the ORM's delete: the mirror and a write-through may both delete.
            done = await session.execute(delete(info.table).where(info.table.name == name))
            if getattr(done, "rowcount", 0):
                events.append(self._event(info, name, "deleted", None))
        return events

    async def names(self, kind: str) -> set[str]:
        table = KINDS[kind].table
        async with self.sessions() as session:
            return set((await session.execute(select(table.name))).scalars())

    async def upsert_objects(self, kind: str, objs: Sequence[dict[str, Any]]) -> None:
        """Cluster mode's write-through after the API wrote a custom resource."""
        async with write_session(self.sessions) as session:
            events, work = await self.upsert_in(session, kind, objs)
            await self._announce(session, events, work=work)
        self.after_commit(events)

    async def remove_objects(self, kind: str, names: Sequence[str]) -> None:
        async with write_session(self.sessions) as session:
            events = await self.remove_in(session, kind, names)
            await self._announce(session, events, work=bool(events))
        self.after_commit(events)


async def _get(
    session: AsyncSession, info: KindTable, name: str, *, lock: bool = False
) -> Row | None:
    row = await session.get(info.table, name, with_for_update=lock or None)
    return cast("Row | None", row)


def _counts(status: dict[str, Any]) -> dict[str, Any]:
    keys = ("phase", "selected", "succeeded", "failed", "running", "pending", "ready", "pulling")
    return {k: status[k] for k in keys if k in status}


def _same_or_older(incoming: str | None, stored: str | None) -> bool:
    return incoming is not None and (incoming == stored or is_older(incoming, stored))
