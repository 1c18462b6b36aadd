"""Live GPU figures of a standalone or embedded agent: sent with heartbeats, never stored in the
OllamaNode (they change every second; the object changes only when facts do).

The agent's Prometheus `/metrics` carries the same figures for scrapers; these models are the
small JSON form that heartbeats carry to the API for the dashboard's node page.
"""

from __future__ import annotations

from pydantic import Field

from obt.core.models.base import ContractModel

MAX_GPUS = 16
"""GPUs per heartbeat: 16 x ~130 bytes stays well inside the API's 4 KiB heartbeat body."""


class GpuTelemetry(ContractModel):
    """One GPU's figures at the agent's last detection cycle."""

    index: int = Field(..., ge=0, le=255, description="The GPU's index, as in hardware.gpus.")
    utilization_percent: float | None = Field(
        None, ge=0, le=100, description="Busy time over the driver's last sample period, in %."
    )
    temperature_c: float | None = Field(
        None, ge=-60, le=200, description="Core temperature in degrees Celsius."
    )
    power_w: float | None = Field(None, ge=0, le=10_000, description="Power draw in watts.")
    memory_used_bytes: int | None = Field(None, ge=0, description="GPU memory in use, in bytes.")


class Telemetry(ContractModel):
    """What a heartbeat carries beside the report digest."""

    gpus: list[GpuTelemetry] = Field(
        default_factory=list, max_length=MAX_GPUS, description="Per-GPU figures, by index."
    )
