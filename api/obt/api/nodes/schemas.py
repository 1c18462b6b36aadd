"""Node responses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from obt.api.schemas import ApiModel, Page
from obt.core.models import (
    AgentStatus,
    Condition,
    HardwareStatus,
    InstalledModel,
    LoadedModel,
    NodeSummary,
    OllamaNodeSpec,
)
from obt.core.models.activity import Activity
from obt.core.telemetry import Telemetry

Phase = Literal["Pending", "Ready", "NotReady", "Unknown"]
NodeSort = Literal[
    "name",
    "-name",
    "phase",
    "-phase",
    "vramTotal",
    "-vramTotal",
    "vramFree",
    "-vramFree",
    "models",
    "-models",
    "loaded",
    "-loaded",
    "gpus",
    "-gpus",
    "updatedAt",
    "-updatedAt",
    "ollamaVersion",
    "-ollamaVersion",
]


class NodeListItem(ApiModel):
    name: str = Field(..., description="OllamaNode name.")
    display_name: str | None = Field(None, description="Friendly name, when set.")
    source: Literal["daemonset", "standalone"] = Field(..., description="How the node reports.")
    phase: Phase = Field(..., description="Liveness phase.")
    phase_since: datetime | None = Field(None, description="When the phase last changed.")
    ollama_version: str | None = Field(None, description="Ollama server version.")
    ollama_reachable: bool = Field(..., description="Whether the agent could reach Ollama.")
    gpu_count: int = Field(..., description="GPUs on the node.")
    gpu_summary: str = Field(..., description="e.g. '2x H100 80GB'.")
    vram_total_bytes: int = Field(..., description="Total GPU memory.")
    vram_loaded_bytes: int = Field(..., description="GPU memory held by loaded models.")
    vram_free_bytes: int = Field(..., description="Total minus loaded.")
    ram_total_bytes: int = Field(..., description="System memory.")
    ram_available_bytes: int = Field(..., description="System memory available (whole GiB).")
    model_count: int = Field(..., description="Installed models.")
    loaded_count: int = Field(..., description="Loaded models.")
    os: str = Field(..., description="OS summary.")
    cpu: str = Field(..., description="CPU summary.")
    agent_version: str | None = Field(None, description="Reporting agent's version.")
    labels: dict[str, str] = Field(default_factory=dict, description="Kubernetes labels.")
    created_at: datetime = Field(..., description="When the API first saw the node.")
    updated_at: datetime = Field(..., description="When the node's row last changed.")
    last_seen_at: datetime | None = Field(
        None, description="Last heartbeat or report (standalone nodes)."
    )


class NodePage(Page[NodeListItem]):
    """A page of nodes."""


class PhaseChange(ApiModel):
    phase: Phase
    reason: str
    message: str
    at: datetime


class NodeOllama(ApiModel):
    url: str | None = None
    reachable: bool = False
    error: str | None = None
    version: str | None = None


class NodeDetail(NodeListItem):
    uid: str | None = Field(None, description="Kubernetes uid (cluster mode).")
    resource_version: str | None = Field(None, description="Last mirrored resourceVersion.")
    spec: OllamaNodeSpec
    hardware: HardwareStatus | None = None
    ollama: NodeOllama = Field(default_factory=NodeOllama)
    models: list[InstalledModel] = Field(default_factory=list, description="Installed models.")
    loaded: list[LoadedModel] = Field(default_factory=list, description="Loaded models.")
    agent: AgentStatus | None = None
    summary: NodeSummary | None = None
    conditions: list[Condition] = Field(default_factory=list)
    history: list[PhaseChange] = Field(
        default_factory=list, description="Phase changes, newest first (at most 50)."
    )
    telemetry: Telemetry | None = Field(
        None,
        description="Live GPU figures from the last heartbeat of a standalone or embedded agent "
        "(DaemonSet agents export them on their /metrics only).",
    )
    telemetry_at: datetime | None = Field(None, description="When those figures arrived.")
    activity: list[Activity] = Field(
        default_factory=list,
        description="What the node's agent is doing and did last for tasks and model sets "
        "(status.activity: running first, at most 20).",
    )


class RemovedNode(ApiModel):
    """A recently removed node (tombstone) with what it last said about itself."""

    name: str = Field(..., description="OllamaNode name.")
    display_name: str | None = Field(..., description="Friendly name, when it had one.")
    source: str | None = Field(..., description="'daemonset' or 'standalone'.")
    reason: str = Field(
        ...,
        description="Why it was removed: 'AgentGone' (no heartbeat or agent pod past the removal "
        "timeout), 'Deleted' (its OllamaNode was deleted), 'Vanished' (gone at a relist), or a "
        "reason given by whoever removed it (e.g. 'Decommissioned').",
    )
    removed_at: datetime = Field(..., description="When it was removed.")
    last_seen_at: datetime | None = Field(
        ...,
        description="Its last heartbeat or report (standalone), else when it stopped being "
        "Ready; null when unknown.",
    )
    last_phase: Phase | None = Field(..., description="Its liveness phase when removed.")
    os: str = Field(..., description="Last known OS summary.")
    cpu: str = Field(..., description="Last known CPU summary.")
    ram_total_bytes: int = Field(..., description="Last known system memory.")
    gpu_count: int = Field(..., description="Last known number of GPUs.")
    gpu_summary: str = Field(..., description="Last known GPUs, e.g. '1x RTX 4090 24GB'.")
    vram_total_bytes: int = Field(..., description="Last known total GPU memory.")
    ollama_version: str | None = Field(..., description="Last known Ollama version.")
    models: list[str] = Field(..., description="Names of the models it last had installed.")
