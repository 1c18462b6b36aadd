"""Model catalogue responses."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from obt.api.schemas import ApiModel, Page

ModelSort = Literal["name", "-name", "nodes", "-nodes", "size", "-size", "loaded", "-loaded"]


class ModelVariant(ApiModel):
    """One model name at one digest across the fleet."""

    name: str = Field(..., description="Model name with tag.")
    digest: str | None = Field(None, description="First 12 hex digits of its digest.")
    family: str | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None
    size: int | None = Field(None, description="Size on disk in bytes.")
    node_count: int = Field(..., description="Nodes that have it installed.")
    loaded_count: int = Field(..., description="Nodes that have it loaded now.")


class ModelPage(Page[ModelVariant]):
    """A page of the model catalogue."""


class ModelDetail(ApiModel):
    name: str
    variants: list[ModelVariant]
    nodes: list[str] = Field(..., description="Nodes that have it installed.")
    loaded_on: list[str] = Field(..., description="Nodes that have it loaded now.")


class PlacementNode(ApiModel):
    name: str
    phase: str
    installed: bool = Field(..., description="The model is already on this node.")
    loaded: bool = Field(..., description="The model is loaded on this node now.")
    vram_free_bytes: int
    ram_available_bytes: int
    fits_in_vram: bool = Field(..., description="Free VRAM holds the model's weights.")
    fits_in_ram: bool = Field(..., description="Available RAM holds the model's weights.")


class Placement(ApiModel):
    name: str
    required_bytes: int = Field(
        ...,
        description="Memory the weights need (size on disk); the KV cache needs more on top.",
    )
    nodes: list[PlacementNode] = Field(
        ..., description="Ready nodes that can hold it, GPU fits first, most free VRAM first."
    )
