"""Catalogue queries: group installed models by name and digest."""

from __future__ import annotations

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from obt.api.catalogue.schemas import ModelDetail, ModelVariant, Placement, PlacementNode
from obt.api.db.tables import Node, NodeLoadedModel, NodeModel
from obt.core.model_names import strip_default_prefixes


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_models(
    session: AsyncSession, search: str | None, sort: str, limit: int, offset: int
) -> tuple[list[ModelVariant], int]:
    grouped = select(
        NodeModel.name.label("name"),
        NodeModel.digest.label("digest"),
        func.max(NodeModel.family).label("family"),
        func.max(NodeModel.parameter_size).label("parameter_size"),
        func.max(NodeModel.quantization_level).label("quantization_level"),
        func.max(NodeModel.size).label("size"),
        func.count().label("node_count"),
    ).group_by(NodeModel.name, NodeModel.digest)
    if search:
        grouped = grouped.where(
            func.lower(NodeModel.name).like(_like(strip_default_prefixes(search)), escape="\\")
        )
    sub = grouped.subquery()
    total = (await session.execute(select(func.count()).select_from(sub))).scalar_one()
    loaded = (
        select(NodeLoadedModel.name, NodeLoadedModel.digest, func.count().label("loaded_count"))
        .group_by(NodeLoadedModel.name, NodeLoadedModel.digest)
        .subquery()
    )
    loaded_count = func.coalesce(loaded.c.loaded_count, 0)
    columns = {
        "name": sub.c.name,
        "nodes": sub.c.node_count,
        "size": sub.c.size,
        "loaded": loaded_count,
    }
    key = sort.lstrip("-")
    order = columns[key].desc() if sort.startswith("-") else columns[key].asc()
    stmt = (
        select(sub, loaded_count.label("loaded_count"))
        .outerjoin(
            loaded,
            and_(
                loaded.c.name == sub.c.name,
                or_(
                    loaded.c.digest == sub.c.digest,
                    and_(loaded.c.digest.is_(None), sub.c.digest.is_(None)),
                ),
            ),
        )
        .order_by(order, sub.c.name, sub.c.digest)
        .limit(limit)
        .offset(offset)
    )
    rows = (await session.execute(stmt)).all()
    return [ModelVariant.model_validate(dict(r._mapping)) for r in rows], total


async def get_model(session: AsyncSession, name: str) -> ModelDetail | None:
    variants, _ = await list_models_exact(session, name)
    if not variants:
        return None
    nodes = (
        await session.execute(
            select(NodeModel.node_name).where(NodeModel.name == name).order_by(NodeModel.node_name)
        )
    ).scalars()
    loaded_on = (
        await session.execute(
            select(NodeLoadedModel.node_name)
            .where(NodeLoadedModel.name == name)
            .order_by(NodeLoadedModel.node_name)
        )
    ).scalars()
    return ModelDetail(name=name, variants=variants, nodes=list(nodes), loaded_on=list(loaded_on))


async def list_models_exact(session: AsyncSession, name: str) -> tuple[list[ModelVariant], int]:
    stmt = (
        select(
            NodeModel.digest,
            func.max(NodeModel.family).label("family"),
            func.max(NodeModel.parameter_size).label("parameter_size"),
            func.max(NodeModel.quantization_level).label("quantization_level"),
            func.max(NodeModel.size).label("size"),
            func.count().label("node_count"),
        )
        .where(NodeModel.name == name)
        .group_by(NodeModel.digest)
        .order_by(func.count().desc())
    )
    rows = (await session.execute(stmt)).all()
    out = []
    for r in rows:
        loaded = (
            await session.execute(
                select(func.count()).where(
                    NodeLoadedModel.name == name,
                    NodeLoadedModel.digest.is_(r.digest)
                    if r.digest is None
                    else NodeLoadedModel.digest == r.digest,
                )
            )
        ).scalar_one()
        out.append(ModelVariant(name=name, loaded_count=loaded, **dict(r._mapping)))
    return out, len(out)


async def placement(
    session: AsyncSession, name: str, required_bytes: int | None, limit: int
) -> Placement | None:
    if required_bytes is None:
        required_bytes = (
            await session.execute(select(func.max(NodeModel.size)).where(NodeModel.name == name))
        ).scalar_one()
        if required_bytes is None:
            return None
    installed = (
        select(literal(1)).where(NodeModel.node_name == Node.name, NodeModel.name == name).exists()
    )
    loaded = (
        select(literal(1))
        .where(NodeLoadedModel.node_name == Node.name, NodeLoadedModel.name == name)
        .exists()
    )
    fits_vram = Node.vram_free_bytes >= required_bytes
    fits_ram = Node.ram_available_bytes >= required_bytes
    stmt = (
        select(
            Node.name,
            Node.phase,
            Node.vram_free_bytes,
            Node.ram_available_bytes,
            installed.label("installed"),
            loaded.label("loaded"),
        )
        .where(Node.phase == "Ready", or_(fits_vram, fits_ram, loaded))
        .order_by(fits_vram.desc(), Node.vram_free_bytes.desc(), Node.name)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return Placement(
        name=name,
        required_bytes=required_bytes,
        nodes=[
            PlacementNode(
                name=r.name,
                phase=r.phase,
                installed=bool(r.installed),
                loaded=bool(r.loaded),
                vram_free_bytes=r.vram_free_bytes,
                ram_available_bytes=r.ram_available_bytes,
                fits_in_vram=r.vram_free_bytes >= required_bytes,
                fits_in_ram=r.ram_available_bytes >= required_bytes,
            )
            for r in rows
        ],
    )
