"""Fleet-wide aggregates, each one GROUP BY over an indexed column."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from obt.api.db.tables import Node, NodeGpu, NodeLoadedModel, NodeModel, Tombstone
from obt.api.fleet.schemas import FleetSummary


async def summary(session: AsyncSession) -> FleetSummary:
    async def grouped(column: object, table: object = Node) -> dict[str, int]:
        rows = await session.execute(
            select(column, func.count()).select_from(table).group_by(column)
        )  # type: ignore[call-overload]
        return {str(k) if k is not None else "unknown": int(v) for k, v in rows.all()}

    totals = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Node.vram_total_bytes), 0),
                func.coalesce(func.sum(Node.vram_loaded_bytes), 0),
                func.coalesce(func.sum(Node.ram_total_bytes), 0),
                func.coalesce(func.sum(Node.gpu_count), 0),
            )
        )
    ).one()
    hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    return FleetSummary(
        nodes=totals[0],
        by_phase=await grouped(Node.phase),
        by_source=await grouped(Node.source),
        vram_total_bytes=int(totals[1]),
        vram_loaded_bytes=int(totals[2]),
        ram_total_bytes=int(totals[3]),
        gpus=int(totals[4]),
        gpus_by_vendor=await grouped(NodeGpu.vendor, NodeGpu),
        ollama_versions=await grouped(Node.ollama_version),
        models_distinct=(
            await session.execute(select(func.count(func.distinct(NodeModel.name))))
        ).scalar_one(),
        models_loaded=(
            await session.execute(select(func.count()).select_from(NodeLoadedModel))
        ).scalar_one(),
        removed_last_hour=(
            await session.execute(
                select(func.count()).select_from(Tombstone).where(Tombstone.removed_at >= hour_ago)
            )
        ).scalar_one(),
    )
