"""/api/v1/admin: node removal, and demo data for people and tests (the admin role).

The seed endpoint (`demo_router`) is mounted only with `obt serve --demo` / OBT_API__DEMO=true:
fake nodes have no place in a real inventory, and a stolen admin token must not be able to
flood one with them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import Field

from obt.api.auth.access import require
from obt.api.auth.roles import Role
from obt.api.deps import StateDep
from obt.api.fake import fake_name, fake_status
from obt.api.nodes.schemas import Phase
from obt.api.nodes.store import NodeRecord
from obt.api.schemas import DENIED, VALIDATION_RESPONSES, ApiModel, Problem

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    responses={**VALIDATION_RESPONSES, **DENIED},
    dependencies=[require(Role.admin)],
)
demo_router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    responses={**VALIDATION_RESPONSES, **DENIED},
    dependencies=[require(Role.admin)],
)


class SeedRequest(ApiModel):
    count: int = Field(50, ge=1, le=10_000, description="How many fake nodes to write.")
    prefix: str = Field(
        "fake", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$", description="Name prefix: '<prefix>-00001'."
    )
    models: int = Field(20, ge=0, le=200, description="Installed models per node.")
    phase: Phase = Field("Ready", description="The phase the fake nodes are in.")
    variant: int = Field(
        0,
        ge=0,
        le=100,
        description="Change what is loaded: re-seeding with another variant "
        "updates the same nodes (a change the dashboard must show live).",
    )


class SeedResult(ApiModel):
    names: list[str]
    changed: int = Field(..., description="Nodes written (unchanged ones are skipped).")


@demo_router.post(
    "/seed",
    operation_id="seedNodes",
    response_model=SeedResult,
)
async def seed_nodes(body: SeedRequest, state: StateDep) -> SeedResult:
    """Write `count` deterministic fake nodes (daemonset source, phase Ready unless asked
    otherwise). Only in demo mode
    (`obt serve --demo`, OBT_API__DEMO=true); 404 otherwise."""
    names = [fake_name(i, body.prefix) for i in range(body.count)]
    records = [
        NodeRecord(
            name=name,
            spec={"source": "daemonset", "nodeName": name},
            status=fake_status(i, models=body.models, variant=body.variant, phase=body.phase),
            labels={"obt.dev/fake": "true", "zone": f"zone-{i % 3}"},
        )
        for i, name in enumerate(names)
    ]
    changed = await state.store.upsert_many(records)
    return SeedResult(names=names, changed=changed)


@demo_router.post("/events/drop", status_code=204, include_in_schema=False)
async def drop_event_streams(state: StateDep) -> Response:
    """Test hook (demo mode only): end every open live-event stream, as a lost connection would;
    browsers reconnect with Last-Event-ID (the dashboard's resume test)."""
    state.bus.drop_streams()
    return Response(status_code=204)


@router.delete(
    "/nodes/{name}",
    operation_id="deleteNode",
    status_code=204,
    responses={404: {"model": Problem}},
)
async def delete_node(
    name: Annotated[str, Path(min_length=1, max_length=253)], state: StateDep
) -> Response:
    """Remove a node from the inventory, leaving a tombstone (local mode; in cluster mode the
    mirror re-creates it while its OllamaNode exists)."""
    if not await state.store.remove(name, "DeletedByAdmin"):
        raise HTTPException(404, f"node {name!r} not found")
    return Response(status_code=204)
