"""Fleet-wide aggregates in two round trips, each table scanned once.

1. `nodes` grouped by (phase, source, Ollama version) with the sums: a few dozen rows that are
   folded into the per-phase, per-source and per-version counts and the totals here.
2. GPUs per vendor, UNION ALL the distinct model names, loaded models and recent removals.

`models_distinct` walks the (name, digest) index once per distinct name (a recursive "loose index
scan") instead of sorting every installed-model row: a fleet has a few hundred model names but
hundreds of thousands of installed-model rows.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from obt.api.db.tables import Node, NodeGpu, NodeLoadedModel, NodeModel, Tombstone
from obt.api.fleet.schemas import FleetSummary


def _distinct_model_names() -> Any:
    """count(DISTINCT node_models.name) as index probes: min(name) > previous, until none."""
    names = select(func.min(NodeModel.name).label("n")).cte("model_names", recursive=True)
    step = select(
        select(func.min(NodeModel.name)).where(NodeModel.name > names.c.n).scalar_subquery()
    ).where(names.c.n.is_not(None))
    names = names.union_all(step)
    return select(func.count(names.c.n)).scalar_subquery()


def _by_node_columns() -> Any:
    return select(
        Node.phase,
        Node.source,
        Node.ollama_version,
        func.count(),
        func.sum(Node.vram_total_bytes),
        func.sum(Node.vram_loaded_bytes),
        func.sum(Node.ram_total_bytes),
        func.sum(Node.gpu_count),
    ).group_by(Node.phase, Node.source, Node.ollama_version)


def _others(hour_ago: datetime) -> Any:
    return union_all(
        select(literal("vendor"), NodeGpu.vendor, func.count()).group_by(NodeGpu.vendor),
        select(literal("distinct"), null(), _distinct_model_names()),
        select(
            literal("loaded"),
            null(),
            select(func.count()).select_from(NodeLoadedModel).scalar_subquery(),
        ),
        select(
            literal("removed"),
            null(),
            select(func.count())
            .select_from(Tombstone)
            .where(Tombstone.removed_at >= hour_ago)
            .scalar_subquery(),
        ),
    )


def _key(value: str | None) -> str:
    return str(value) if value is not None else "unknown"


async def summary(session: AsyncSession) -> FleetSummary:
    hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    by_phase: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    totals = [0, 0, 0, 0, 0]  # nodes, VRAM total, VRAM loaded, RAM total, GPUs
    for phase, source, version, count, *sums in (await session.execute(_by_node_columns())).all():
        by_phase[_key(phase)] += int(count)
        by_source[_key(source)] += int(count)
        versions[_key(version)] += int(count)
        for i, value in enumerate((count, *sums)):
            totals[i] += int(value or 0)
    vendors: dict[str, int] = {}
    scalars: dict[str, int] = {}
    for kind, key, count in (await session.execute(_others(hour_ago))).all():
        if kind == "vendor":
            vendors[_key(key)] = int(count)
        else:
            scalars[kind] = int(count or 0)
    return FleetSummary(
        nodes=totals[0],
        by_phase=dict(by_phase),
        by_source=dict(by_source),
        vram_total_bytes=totals[1],
        vram_loaded_bytes=totals[2],
        ram_total_bytes=totals[3],
        gpus=totals[4],
        gpus_by_vendor=vendors,
        ollama_versions=dict(versions),
        models_distinct=scalars["distinct"],
        models_loaded=scalars["loaded"],
        removed_last_hour=scalars["removed"],
    )
