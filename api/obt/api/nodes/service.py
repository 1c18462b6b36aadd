"""Queries behind the node endpoints."""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from dataclasses import astuple, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    asc,
    case,
    cast,
    desc,
    exists,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

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
from obt.api.nodes.schemas import NodeDetail, NodeListItem, NodeOllama, PhaseChange, RemovedNode
from obt.core.model_names import normalize_model_name, strip_default_prefixes
from obt.core.models import OllamaNodeStatus
from obt.core.summary import summarize
from obt.core.telemetry import Telemetry

SORT_COLUMNS: dict[str, Any] = {
    "name": Node.name,
    "phase": Node.phase,
    "vramTotal": Node.vram_total_bytes,
    "vramFree": Node.vram_free_bytes,
    "models": Node.model_count,
    "loaded": Node.loaded_count,
    "gpus": Node.gpu_count,
    "updatedAt": Node.updated_at,
    "ollamaVersion": Node.ollama_version,
}


@dataclass
class NodeQuery:
    search: str | None = None
    phase: list[str] | None = None
    gpu_vendor: list[str] | None = None
    has_model: str | None = None
    loaded_model: str | None = None
    min_vram_bytes: int | None = None
    min_free_vram_bytes: int | None = None
    source: str | None = None
    label: list[str] | None = None
    sort: str = "name"
    limit: int = 50
    offset: int = 0


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def apply_filters(stmt: Select[Any], q: NodeQuery) -> Select[Any]:
    if q.search:
        pattern = _like(strip_default_prefixes(q.search))
        stmt = stmt.where(Node.search_text.like(pattern, escape="\\"))
    if q.phase:
        stmt = stmt.where(Node.phase.in_(q.phase))
    if q.source:
        stmt = stmt.where(Node.source == q.source)
    if q.gpu_vendor:
        stmt = stmt.where(
            exists().where(NodeGpu.node_name == Node.name, NodeGpu.vendor.in_(q.gpu_vendor))
        )
    if q.has_model:
        stmt = stmt.where(
            exists().where(
                NodeModel.node_name == Node.name,
                NodeModel.name == normalize_model_name(q.has_model),
            )
        )
    if q.loaded_model:
        stmt = stmt.where(
            exists().where(
                NodeLoadedModel.node_name == Node.name,
                NodeLoadedModel.name == normalize_model_name(q.loaded_model),
            )
        )
    if q.min_vram_bytes is not None:
        stmt = stmt.where(Node.vram_total_bytes >= q.min_vram_bytes)
    if q.min_free_vram_bytes is not None:
        stmt = stmt.where(Node.vram_free_bytes >= q.min_free_vram_bytes)
    for selector in q.label or []:
        stmt = stmt.where(label_condition(selector))
    return stmt


def label_condition(selector: str) -> Any:
    """One requirement of a Kubernetes equality-based label selector: 'key', '!key',
    'key=value' (or '=='), 'key!=value' (true also where the label is absent, as in Kubernetes)."""
    selector = selector.strip()
    if selector.startswith("!"):
        return ~exists().where(NodeLabel.node_name == Node.name, NodeLabel.key == selector[1:])
    if "!=" in selector:
        key, _, value = selector.partition("!=")
        return ~exists().where(
            NodeLabel.node_name == Node.name, NodeLabel.key == key, NodeLabel.value == value
        )
    key, sep, value = selector.partition("=")
    cond = [NodeLabel.node_name == Node.name, NodeLabel.key == key]
    if sep:
        cond.append(NodeLabel.value == value.removeprefix("="))
    return exists().where(*cond)


def to_item(row: Node) -> NodeListItem:
    return NodeListItem(
        name=row.name,
        display_name=row.display_name,
        source=row.source,
        phase=row.phase,
        phase_since=row.phase_since,
        ollama_version=row.ollama_version,
        ollama_reachable=row.ollama_reachable,
        gpu_count=row.gpu_count,
        gpu_summary=row.gpu_summary,
        vram_total_bytes=row.vram_total_bytes,
        vram_loaded_bytes=row.vram_loaded_bytes,
        vram_free_bytes=row.vram_free_bytes,
        ram_total_bytes=row.ram_total_bytes,
        ram_available_bytes=row.ram_available_bytes,
        model_count=row.model_count,
        loaded_count=row.loaded_count,
        os=row.os_summary,
        cpu=row.cpu_summary,
        agent_version=row.agent_version,
        labels=row.labels or {},
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_seen_at=row.last_seen_at,
    )


# The list never needs the raw JSON columns; loading them would dominate the query time.
_LIST_COLUMNS = [
    c for c in Node.__table__.columns if c.name not in ("status", "spec", "search_text")
]
# Column name -> NodeListItem field, where they differ.
_RENAMED = {"os_summary": "os", "cpu_summary": "cpu"}
_ITEM_FIELDS = set(NodeListItem.model_fields)


def _item(row: Any) -> NodeListItem:
    """A list item straight from a result row (no ORM object: that costs more than the query)."""
    values = {_RENAMED.get(k, k): v for k, v in row._mapping.items()}
    values = {k: v for k, v in values.items() if k in _ITEM_FIELDS}
    values["labels"] = values.get("labels") or {}
    return NodeListItem.model_validate(values)


# Totals without counting every time. The store records each write transaction's new fleet
# generation for the node names it wrote or removed (`node_changes`, migrations 0003, 0004). For
# each recent query the names it matched are kept with the generation they were read at; the
# next time only the names changed since are tested again: with the mirror writing
# continuously, a broad search no longer re-reads every node's search text. The generations,
# the changed names and their new verdicts come from one statement: one snapshot.
@dataclass(frozen=True)
class _Matches:
    generation: int
    names: frozenset[str]
    counted_at: float  # monotonic: when these were last read in full


_MATCHES: OrderedDict[tuple[str, str], _Matches] = OrderedDict()
_MATCHES_MAX = 64  # a set of 5,000 names is ~200 KiB (the strings are shared)
_RECOUNT_AFTER_S = 300.0  # read in full now and then whatever happened (a restored backup)
_NO_NAME = cast(null(), String)
_NO_NUMBER = cast(null(), BigInteger)


def forget_matches() -> None:
    """Drop every kept match set (tests; a total is then read in full once)."""
    _MATCHES.clear()


def _key(session: AsyncSession, q: NodeQuery) -> tuple[str, str]:
    search = (
        _like(strip_default_prefixes(q.search)) if q.search else None
    )  # what the query really tests
    filters = replace(q, search=search, sort="", limit=0, offset=0)
    return str(session.get_bind().engine.url), repr(astuple(filters))


def _member(kind: str, name: Any, number: Any) -> Any:
    """One member of the counting UNION: rows of (kind, name, number)."""
    return select(literal(kind), name, number)


def _generations() -> list[Any]:
    one = FleetGeneration.id == 1
    return [
        _member("g", _NO_NAME, FleetGeneration.generation).where(one),
        _member("r", _NO_NAME, FleetGeneration.reset_generation).where(one),
    ]


def _matching(q: NodeQuery) -> Any:
    return apply_filters(_member("m", Node.name, _NO_NUMBER), q)


def _changed_since(q: NodeQuery, since: int) -> Any:
    """The node names written or removed after `since`, each with 1 when a node of that name
    matches `q` now, else 0 (removed: no node). The match is a correlated EXISTS by primary key,
    so the changed names are found by their generation index alone (with the filters beside it,
    SQLite chose the phase index for `phase=Ready` and tested 4,500 nodes)."""
    matches = apply_filters(select(Node.name), q).where(Node.name == NodeChange.name)
    verdict = case((exists(matches), 1), else_=0)
    return _member("c", NodeChange.name, verdict).where(NodeChange.generation > since)


async def _read(session: AsyncSession, parts: list[Any]) -> tuple[int | None, int, list[Any]]:
    rows = list((await session.execute(union_all(*parts))).all())
    numbers = {r[0]: r[2] for r in rows if r[0] in ("g", "r")}
    return numbers.get("g"), numbers.get("r") or 0, rows


def _keep(key: tuple[str, str], matches: _Matches) -> None:
    kept = _MATCHES.get(key)
    if kept is None or kept.generation <= matches.generation:  # a slower reader is older
        _MATCHES[key] = matches
    _MATCHES.move_to_end(key)
    while len(_MATCHES) > _MATCHES_MAX:
        _MATCHES.popitem(last=False)


async def count_nodes(session: AsyncSession, q: NodeQuery) -> int:
    key = _key(session, q)
    kept = _MATCHES.get(key)
    now = time.monotonic()
    if kept is not None and now - kept.counted_at < _RECOUNT_AFTER_S:
        since = kept.generation
        # Nothing written since (a repeated query, the next page): one primary-key read.
        current = (
            await session.execute(select(FleetGeneration.generation).where(FleetGeneration.id == 1))
        ).scalar_one_or_none()
        if current == since:
            _MATCHES.move_to_end(key)
            return len(kept.names)
        generation, reset, rows = await _read(
            session,
            [
                *_generations(),
                _changed_since(q, since),
            ],
        )
        if generation is not None and since <= generation and reset <= since:
            names = kept.names
            if len(rows) > 2:
                stale = {r[1] for r in rows if r[0] == "c"}
                fresh = {sys.intern(r[1]) for r in rows if r[0] == "c" and r[2]}
                names = (names - stale) | fresh
            _keep(key, _Matches(generation, names, kept.counted_at))
            return len(names)
    generation, _, rows = await _read(session, [*_generations(), _matching(q)])
    names = frozenset(sys.intern(r[1]) for r in rows if r[0] == "m")
    if generation is not None:
        _keep(key, _Matches(generation, names, now))
    return len(names)


async def list_nodes(session: AsyncSession, q: NodeQuery) -> tuple[list[NodeListItem], int]:
    total = await count_nodes(session, q)
    key = q.sort.lstrip("-")
    column = SORT_COLUMNS[key]
    order = desc(column) if q.sort.startswith("-") else asc(column)
    stmt = (
        apply_filters(select(*_LIST_COLUMNS), q)
        .order_by(order, Node.name)
        .limit(q.limit)
        .offset(q.offset)
    )
    rows = (await session.execute(stmt)).all()
    return [_item(r) for r in rows], total


async def stored_telemetry(session: AsyncSession, name: str) -> tuple[Telemetry, datetime] | None:
    """The live GPU figures persisted with the last flush of heartbeats (any replica's)."""
    row = (
        await session.execute(
            select(NodeCredential.telemetry, NodeCredential.telemetry_at).where(
                NodeCredential.node_name == name
            )
        )
    ).first()
    if row is None or not row.telemetry or row.telemetry_at is None:
        return None
    return Telemetry.model_validate(row.telemetry), row.telemetry_at


async def get_node(session: AsyncSession, name: str) -> NodeDetail | None:
    row = (await session.execute(select(Node).where(Node.name == name))).scalar_one_or_none()
    if row is None:
        return None
    status = OllamaNodeStatus.model_validate(row.status or {})
    history = (
        await session.execute(
            select(NodeConditionEvent)
            .where(NodeConditionEvent.node_name == name)
            .order_by(NodeConditionEvent.id.desc())
            .limit(50)
        )
    ).scalars()
    ollama = status.ollama
    return NodeDetail(
        **to_item(row).model_dump(),
        uid=row.uid,
        resource_version=row.resource_version,
        spec=row.spec,
        hardware=status.hardware,
        ollama=NodeOllama(
            url=ollama.url, reachable=ollama.reachable, error=ollama.error, version=ollama.version
        )
        if ollama
        else NodeOllama(),
        models=list(ollama.models) if ollama else [],
        loaded=list(ollama.loaded) if ollama else [],
        agent=status.agent,
        summary=status.summary,
        conditions=status.conditions,
        history=[
            PhaseChange(phase=h.phase, reason=h.reason, message=h.message, at=h.at) for h in history
        ],
        activity=list(status.activity or []),
    )


async def list_removed(session: AsyncSession, limit: int) -> list[RemovedNode]:
    rows = (
        await session.execute(select(Tombstone).order_by(Tombstone.removed_at.desc()).limit(limit))
    ).scalars()
    return [_removed_node(r) for r in rows]


def _removed_node(row: Tombstone) -> RemovedNode:
    """A tombstone with the last known hardware and models summarised as the list does."""
    try:
        status = OllamaNodeStatus.model_validate(row.last_status or {})
    except ValueError:  # written by an older version in a shape that no longer validates
        status = OllamaNodeStatus()
    hardware, ollama = status.hardware, status.ollama
    summary = summarize(hardware, ollama)
    memory = hardware.memory if hardware else None
    return RemovedNode(
        name=row.name,
        display_name=row.display_name,
        source=row.source,
        reason=row.reason,
        removed_at=row.removed_at,
        last_seen_at=row.last_seen_at,
        last_phase=status.phase,
        os=summary.os,
        cpu=summary.cpu,
        ram_total_bytes=(memory.total_bytes or 0) if memory else 0,
        gpu_count=len(hardware.gpus) if hardware else 0,
        gpu_summary=summary.gpus,
        vram_total_bytes=summary.vram_total_bytes,
        ollama_version=ollama.version if ollama else None,
        models=sorted(m.name for m in ollama.models) if ollama else [],
    )
