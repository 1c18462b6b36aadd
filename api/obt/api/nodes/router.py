"""/api/v1/nodes"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from obt.api.auth.access import require
from obt.api.auth.roles import Role
from obt.api.deps import SessionDep, StateDep
from obt.api.nodes import service
from obt.api.nodes.schemas import NodeDetail, NodePage, NodeSort, Phase, RemovedNode
from obt.api.schemas import DENIED, INT64_MAX, VALIDATION_RESPONSES, Problem

router = APIRouter(
    prefix="/api/v1/nodes",
    tags=["nodes"],
    responses={**VALIDATION_RESPONSES, **DENIED},
    dependencies=[require(Role.viewer)],
)


@router.get("", operation_id="listNodes", response_model=NodePage)
async def list_nodes(
    session: SessionDep,
    search: Annotated[
        str | None,
        Query(max_length=200, description="Substring of the name, a GPU name or a model name."),
    ] = None,
    phase: Annotated[list[Phase] | None, Query(description="Any of these phases.")] = None,
    gpu_vendor: Annotated[
        list[str] | None, Query(alias="gpuVendor", description="Has a GPU of any of these vendors.")
    ] = None,
    has_model: Annotated[
        str | None,
        Query(
            alias="hasModel",
            max_length=253,
            description="Has this model installed ('llama3.2' means 'llama3.2:latest').",
        ),
    ] = None,
    loaded_model: Annotated[
        str | None,
        Query(
            alias="loadedModel",
            max_length=253,
            description="Has this model loaded ('llama3.2' means 'llama3.2:latest').",
        ),
    ] = None,
    min_vram_bytes: Annotated[
        int | None,
        Query(alias="minVramBytes", ge=0, le=INT64_MAX, description="Total VRAM at least this."),
    ] = None,
    min_free_vram_bytes: Annotated[
        int | None,
        Query(
            alias="minFreeVramBytes",
            ge=0,
            le=INT64_MAX,
            description="VRAM not held by models at least this.",
        ),
    ] = None,
    source: Annotated[
        str | None, Query(pattern="^(daemonset|standalone)$", description="How the node reports.")
    ] = None,
    label: Annotated[
        list[str] | None,
        Query(
            description="A label requirement: 'key' (present), '!key' (absent), 'key=value' or "
            "'key!=value'; all must match (a Kubernetes equality-based selector, one per item)."
        ),
    ] = None,
    sort: Annotated[NodeSort, Query(description="Sort key; '-' for descending.")] = "name",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> NodePage:
    """Nodes matching a search and filters, sorted and paginated; `total` counts all matches."""
    q = service.NodeQuery(
        search=search,
        phase=list(phase) if phase else None,
        gpu_vendor=gpu_vendor,
        has_model=has_model,
        loaded_model=loaded_model,
        min_vram_bytes=min_vram_bytes,
        min_free_vram_bytes=min_free_vram_bytes,
        source=source,
        label=label,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    items, total = await service.list_nodes(session, q)
    return NodePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/-/removed", operation_id="listRemovedNodes", response_model=list[RemovedNode])
async def list_removed(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[RemovedNode]:
    """Recently removed nodes (tombstones), newest first."""
    return await service.list_removed(session, limit)


@router.get(
    "/{name}",
    operation_id="getNode",
    response_model=NodeDetail,
    responses={404: {"model": Problem}},
)
async def get_node(name: str, session: SessionDep, state: StateDep) -> NodeDetail:
    """Everything known about one node: hardware, Ollama, models, conditions, history, and the
    live GPU figures of its agent's last heartbeat."""
    node = await service.get_node(session, name)
    if node is None:
        raise HTTPException(404, f"node {name!r} not found")
    stored = await service.stored_telemetry(session, name)
    live = state.ingest.live_telemetry(name)
    newest = max((t for t in (stored, live) if t is not None), key=lambda t: t[1], default=None)
    if newest is not None:
        node.telemetry, node.telemetry_at = newest
    return node
