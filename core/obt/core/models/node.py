"""The `OllamaNode` custom resource: one per machine that runs (or should run) Ollama.

Writers (one per field, see ARCHITECTURE.md):
- the agent (or, for standalone hosts in cluster mode, the API on its behalf) writes `spec` at
  creation and `status.hardware`, `status.ollama`, `status.agent` and `status.summary`;
- the agent alone writes `status.activity` (its work for tasks and model sets);
- the operator alone writes `status.conditions` and `status.phase`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from obt.core.models.activity import Activity
from obt.core.models.base import ContractModel
from obt.core.models.hardware import HardwareStatus
from obt.core.models.ollama import OllamaStatus
from obt.core.names import OLLAMANODES

KIND = "OllamaNode"
PLURAL = OLLAMANODES
SINGULAR = "ollamanode"
SHORT_NAMES = ["onode"]
CATEGORIES = ["obt"]

Source = Literal["daemonset", "standalone"]
AgentMode = Literal["kubernetes", "http", "embedded"]
Phase = Literal["Pending", "Ready", "NotReady", "Unknown"]
ConditionStatus = Literal["True", "False", "Unknown"]


class OllamaNodeSpec(ContractModel):
    """Identity of the node: where it comes from and how people call it."""

    source: Source = Field(
        ...,
        description="How the node reports: 'daemonset' (agent pod on a Kubernetes node) or 'standalone' (agent on a host outside the cluster, through the API).",
    )
    node_name: str | None = Field(
        None, description="Kubernetes Node this OllamaNode belongs to (daemonset source)."
    )
    host_id: str | None = Field(
        None, description="Configured id of a standalone host (standalone source)."
    )
    display_name: str | None = Field(
        None, description="Friendly name for people, e.g. 'Mac Studio (office)'."
    )


class AgentStatus(ContractModel):
    """The agent process that reports this node."""

    version: str | None = Field(None, description="OBT agent version.")
    mode: AgentMode | None = Field(
        None,
        description="How the agent reports: 'kubernetes' (writes this object), 'http' (through the API) or 'embedded' (inside `obt serve`).",
    )
    started_at: datetime | None = Field(None, description="When the agent process started.")
    pod_name: str | None = Field(None, description="Agent pod (daemonset source).")
    pod_namespace: str | None = Field(
        None, description="Namespace of the agent pod (daemonset source)."
    )


class Condition(ContractModel):
    """A Kubernetes-style condition (metav1.Condition)."""

    type: str = Field(..., description="Condition type, e.g. 'Ready'.")
    status: ConditionStatus = Field(..., description="'True', 'False' or 'Unknown'.")
    reason: str = Field(
        ...,
        description="One CamelCase word for machines, e.g. 'AgentReady', 'NodeNotReady', 'LeaseExpired'.",
    )
    message: str = Field("", description="Sentence for people.")
    last_transition_time: datetime = Field(..., description="When status last changed.")
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation the condition was judged against."
    )


class NodeSummary(ContractModel):
    """Derived from hardware and ollama by `obt.core.summary.summarize` for the printer columns."""

    gpus: str = Field(
        "",
        description="GPU summary, e.g. '8x H100 80GB', '2x RTX 4090 24GB + 1x A2 16GB', or '' without GPUs.",
    )
    vram: str = Field("", description="VRAM held by loaded models / total VRAM, e.g. '37Gi/640Gi'.")
    vram_total_bytes: int = Field(0, ge=0, description="Total GPU memory in bytes.")
    vram_loaded_bytes: int = Field(
        0, ge=0, description="GPU memory held by Ollama's loaded models, in bytes."
    )
    models: int = Field(0, ge=0, description="Installed model count.")
    loaded: int = Field(0, ge=0, description="Loaded model count.")
    os: str = Field("", description="OS summary, e.g. 'Ubuntu 22.04'.")
    cpu: str = Field("", description="CPU summary, e.g. 'EPYC 9654 x2 (192c)'.")


class OllamaNodeStatus(ContractModel):
    """Observed state: agent-written facts plus the operator-judged phase and conditions."""

    phase: Phase | None = Field(
        None,
        description="Liveness judged by the operator: Ready, NotReady, Unknown; Pending until first judged.",
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Conditions written by the operator (type Ready)."
    )
    hardware: HardwareStatus | None = Field(
        None, description="What the agent detected on the machine."
    )
    ollama: OllamaStatus | None = Field(None, description="The Ollama server on the machine.")
    agent: AgentStatus | None = Field(None, description="The agent that reports this node.")
    summary: NodeSummary | None = Field(
        None, description="Derived figures for `kubectl get` columns."
    )
    activity: list[Activity] | None = Field(
        None,
        description="Work the agent is doing or did lately for tasks and model sets (running "
        "first, at most 20). Written by the agent only, at most every 5 s while work runs.",
    )


class ObjectMeta(ContractModel):
    """The part of metav1.ObjectMeta the contract reads (the API server owns the rest)."""

    name: str = Field(
        ...,
        description="Kubernetes node name (daemonset) or the host's configured id (standalone).",
    )
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    resource_version: str | None = None
    uid: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    owner_references: list[dict[str, Any]] | None = None


class OllamaNode(ContractModel):
    api_version: Literal["obt.dev/v1alpha1"] = Field(
        "obt.dev/v1alpha1", description="obt.dev/v1alpha1"
    )
    kind: Literal["OllamaNode"] = Field("OllamaNode", description="OllamaNode")
    metadata: ObjectMeta
    spec: OllamaNodeSpec
    status: OllamaNodeStatus = Field(default_factory=OllamaNodeStatus)
