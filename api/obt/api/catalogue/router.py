"""/api/v1/models"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from obt.api.auth.access import require
from obt.api.auth.roles import Role
from obt.api.catalogue import service
from obt.api.catalogue.schemas import ModelDetail, ModelPage, ModelSort, Placement
from obt.api.deps import SessionDep
from obt.api.schemas import DENIED, INT64_MAX, VALIDATION_RESPONSES, Problem
from obt.core.model_names import normalize_model_name

router = APIRouter(
    prefix="/api/v1/models",
    tags=["models"],
    responses={**VALIDATION_RESPONSES, **DENIED},
    dependencies=[require(Role.viewer)],
)


@router.get("", operation_id="listModels", response_model=ModelPage)
async def list_models(
    session: SessionDep,
    search: Annotated[
        str | None, Query(max_length=200, description="Substring of the name.")
    ] = None,
    sort: Annotated[ModelSort, Query(description="Sort key; '-' for descending.")] = "name",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> ModelPage:
    """The fleet's models grouped by name and digest, with how many nodes have / run each."""
    items, total = await service.list_models(session, search, sort, limit, offset)
    return ModelPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/placement",
    operation_id="getModelPlacement",
    response_model=Placement,
    responses={404: {"model": Problem}},
)
async def get_placement(
    session: SessionDep,
    name: Annotated[
        str,
        Query(
            min_length=1,
            max_length=253,
            description="Model name ('llama3.2' means 'llama3.2:latest').",
        ),
    ],
    required_bytes: Annotated[
        int | None,
        Query(
            alias="requiredBytes",
            ge=0,
            le=INT64_MAX,
            description="Override the memory needed (default: its size).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Placement:
    """Ready nodes with enough free VRAM (or RAM) to hold this model."""
    name = normalize_model_name(name)
    result = await service.placement(session, name, required_bytes, limit)
    if result is None:
        raise HTTPException(
            404, f"model {name!r} is on no node; pass requiredBytes to place an unknown model"
        )
    return result


@router.get(
    "/{name:path}",
    operation_id="getModel",
    response_model=ModelDetail,
    responses={404: {"model": Problem}},
)
async def get_model(name: str, session: SessionDep) -> ModelDetail:
    """One model: its digests, the nodes that have it and those that have it loaded.
    'llama3.2' means 'llama3.2:latest', as in Ollama."""
    name = normalize_model_name(name)
    detail = await service.get_model(session, name)
    if detail is None:
        raise HTTPException(404, f"model {name!r} is on no node")
    return detail
