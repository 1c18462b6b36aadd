"""/api/v1/fleet"""

from __future__ import annotations

from fastapi import APIRouter

from obt.api.auth.access import require
from obt.api.auth.roles import Role
from obt.api.deps import SessionDep
from obt.api.fleet import service
from obt.api.fleet.schemas import FleetSummary
from obt.api.schemas import DENIED

router = APIRouter(
    prefix="/api/v1/fleet",
    tags=["fleet"],
    responses=DENIED,
    dependencies=[require(Role.viewer)],
)


@router.get("/summary", operation_id="getFleetSummary", response_model=FleetSummary)
async def get_fleet_summary(session: SessionDep) -> FleetSummary:
    """Counts by phase and source, VRAM, GPUs by vendor, Ollama versions in use."""
    return await service.summary(session)
