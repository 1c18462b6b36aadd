"""Fleet summary response."""

from __future__ import annotations

from pydantic import Field

from obt.api.schemas import ApiModel


class FleetSummary(ApiModel):
    nodes: int = Field(..., description="Nodes in the inventory.")
    by_phase: dict[str, int] = Field(..., description="Node count per phase.")
    by_source: dict[str, int] = Field(..., description="Node count per source.")
    vram_total_bytes: int = Field(..., description="GPU memory across the fleet.")
    vram_loaded_bytes: int = Field(..., description="GPU memory held by loaded models.")
    ram_total_bytes: int = Field(..., description="System memory across the fleet.")
    gpus: int = Field(..., description="GPUs across the fleet.")
    gpus_by_vendor: dict[str, int] = Field(..., description="GPU count per vendor.")
    ollama_versions: dict[str, int] = Field(
        ..., description="Node count per Ollama version ('unknown' when unreachable)."
    )
    models_distinct: int = Field(..., description="Distinct installed model names.")
    models_loaded: int = Field(..., description="Loaded model instances across nodes.")
    removed_last_hour: int = Field(..., description="Nodes removed in the last hour.")
