"""The fleet acts: `OllamaTask` (one action on chosen nodes, once) and `OllamaModelSet` (models
kept present, optionally loaded, on the nodes a selector picks), and each node's `activity`.

Writers (one per field, ARCHITECTURE.md "Actions"):
- people (kubectl, or the API on their behalf after its role check) write `spec`;
- the operator (cluster mode) or the API's local reconciler (local mode) writes `status`, computed
  by `obt.core.actions.task_status` / `modelset_status` from the nodes' inventory and activity;
- each node's agent writes `OllamaNode.status.activity` (standalone agents through the API).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from obt.core.model_names import normalize_model_name
from obt.core.models.activity import (
    ACTIONS,
    FINISHED_STEP_PHASES,
    MAX_ACTIVITY,
    Action,
    Activity,
    SourceKind,
    StepPhase,
)
from obt.core.models.base import ContractModel
from obt.core.models.node import Condition, ObjectMeta

TaskPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"]
TASK_PHASES: tuple[TaskPhase, ...] = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
# Where a node stands against a model set.
MemberState = Literal["Ready", "Pulling", "Waiting", "Failed"]

# How many per-node entries a status keeps (failures first): a status is one etcd object and a
# 5,000-node fleet must not make it megabytes. Counts stay exact.
MAX_STATUS_NODES = 100
# Error texts are Ollama's own, cut to this length.
MAX_MESSAGE = 500

# Ollama's name rules (its types/model/name.go): host, namespace and model parts of letters,
# digits, '_', '-', '.'; a tag of letters, digits, '_', '-', '.' up to 80 characters; at most
# 350 characters in all. The API rejects what Ollama would, naming the field.
_PART = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_NAME_RE = re.compile(
    rf"^(?:{_PART}(?::[0-9]+)?/)?(?:{_PART}/)?{_PART}(?::[A-Za-z0-9_][A-Za-z0-9_.\-]{{0,79}})?$"
)
_DIGEST_RE = re.compile(r"^(sha256[:-])?[0-9a-f]{12,64}$")
# keep_alive as Ollama takes it: a Go duration ("5m", "1h30m", "-1s") or a number of seconds
# ("-1" = keep loaded for ever, "0" = unload now).
_KEEP_ALIVE_RE = re.compile(r"^-?(\d+(\.\d+)?|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$")
_PERCENT_RE = re.compile(r"^([1-9][0-9]?|100)%$")


def check_model_name(value: str) -> str:
    """The name in `ollama list` form ('llama3.2' -> 'llama3.2:latest'); ValueError naming
    what is wrong when Ollama would reject it."""
    text = value.strip()
    if not text:
        raise ValueError("model name is empty")
    if len(text) > 350:
        raise ValueError(f"model name is {len(text)} characters long; Ollama allows 350")
    if not _NAME_RE.match(text):
        raise ValueError(
            f"{value!r} is not a model name Ollama accepts: [host/][namespace/]model[:tag] of "
            "letters, digits, '_', '-' and '.'"
        )
    name = normalize_model_name(text)
    if len(name) > 350:  # the ':latest' the normal form adds counts too: it must read back
        raise ValueError(
            f"model name is {len(name)} characters long as {name[:20]}…; Ollama allows 350"
        )
    return name


def normalize_digest(value: str | None) -> str | None:
    """'sha256:abc…' / 'sha256-abc…' / 'abc…' -> 'abc…' (12 to 64 hex digits: `ollama list`
    shows the first 12, which is what OllamaNode stores); None stays None."""
    if value is None:
        return None
    text = value.strip().lower()
    if not _DIGEST_RE.match(text):
        raise ValueError(
            f"{value!r} is not a sha256 digest (12 to 64 hex digits, optional 'sha256:')"
        )
    return text.split(":")[-1].split("-")[-1]


def same_digest(a: str | None, b: str | None) -> bool:
    """Whether two digests (full or the 12-digit prefix `ollama list` shows) name the same
    model; False when either is unknown."""
    if not a or not b:
        return False
    x, y = a.lower().split(":")[-1], b.lower().split(":")[-1]
    n = min(len(x), len(y))
    return n >= 12 and x[:n] == y[:n]


class ModelRef(ContractModel):
    """One model by name, optionally pinned to a digest."""

    name: str = Field(
        ...,
        min_length=1,
        max_length=350,
        description="Model name as Ollama takes it, e.g. 'llama3.2' or 'qwen2.5:7b'.",
    )
    digest: str | None = Field(
        None,
        description="sha256 digest the model must have: 12 to 64 hex digits (`ollama list` "
        "shows the first 12). A set with a pinned digest corrects a node whose copy drifted.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_model_name(value)

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        return normalize_digest(value)


class LabelSelectorRequirement(ContractModel):
    """metav1.LabelSelectorRequirement."""

    key: str = Field(..., min_length=1, description="Label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        ..., description="In, NotIn, Exists or DoesNotExist."
    )
    values: list[str] | None = Field(
        None, description="Values for In and NotIn; empty for Exists and DoesNotExist."
    )

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs values")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(ContractModel):
    """metav1.LabelSelector over OllamaNode labels. An empty selector selects every node."""

    match_labels: dict[str, str] | None = Field(
        None, description="Labels a node must carry with exactly these values."
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        None, description="Set-based requirements, all of which must hold."
    )


def _check_keep_alive(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not _KEEP_ALIVE_RE.match(text):
        raise ValueError(
            f"{value!r} is not a keep-alive Ollama accepts: a duration like '5m', '1h30m' or "
            "'-1s', or seconds like '-1' (for ever) or '0' (unload)"
        )
    return text


class OllamaTaskSpec(ContractModel):
    """One action on chosen nodes, once, like a Job."""

    action: Action = Field(..., description="pull, delete, load or unload.")
    models: list[ModelRef] = Field(
        ..., min_length=1, max_length=50, description="The models to act on."
    )
    nodes: list[str] | None = Field(
        None, description="OllamaNode names to act on (or nodeSelector; either, not both)."
    )
    node_selector: LabelSelector | None = Field(
        None, description="Label selector over OllamaNode labels (or nodes; either, not both)."
    )
    max_concurrent: int | None = Field(
        None, ge=1, description="At most this many nodes work at once; unset: all at once."
    )
    keep_alive: str | None = Field(
        None,
        description="For load: how long Ollama keeps the model loaded ('5m', '-1' for ever). "
        "Unset: Ollama's default.",
    )
    ttl_seconds_after_finished: int | None = Field(
        None, ge=0, description="Delete the task this long after it finished; unset: keep it."
    )
    cancel: bool = Field(
        False,
        description="Set to stop the task: work in flight stops, nothing new starts, phase "
        "becomes Cancelled (`obt task cancel`). Deleting the task stops it too.",
    )
    evict: bool = Field(
        False,
        description="unload/delete: also act where someone else loaded the model "
        "(otherwise such nodes are skipped with reason Busy).",
    )

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, value: str | None) -> str | None:
        return _check_keep_alive(value)

    @model_validator(mode="after")
    def _target(self) -> OllamaTaskSpec:
        if self.nodes is not None and self.node_selector is not None:
            raise ValueError("give nodes or nodeSelector, not both")
        if self.nodes is None and self.node_selector is None:
            raise ValueError("give nodes (names) or nodeSelector (labels) to say where to act")
        if self.nodes is not None and not self.nodes:
            raise ValueError("nodes is empty")
        if self.keep_alive is not None and self.action != "load":
            raise ValueError("keepAlive applies to action load only")
        return self


class NodeOutcome(ContractModel):
    """How one node fared with a task."""

    node: str = Field(..., description="OllamaNode name.")
    phase: StepPhase = Field(..., description="Where the node stands.")
    model: str | None = Field(None, description="The model the message is about.")
    reason: str | None = Field(
        None, description="One CamelCase word, e.g. OllamaError, DiskFull, Busy, NodeNotReady."
    )
    message: str = Field("", description="What happened, with Ollama's own error text.")
    completed_bytes: int | None = Field(None, ge=0, description="Bytes pulled so far.")
    total_bytes: int | None = Field(None, ge=0, description="Bytes to pull in all.")
    finished_at: datetime | None = Field(None, description="When the node finished.")


class OllamaTaskStatus(ContractModel):
    """Computed by obt.core.actions.task_status; written by the operator or local reconciler."""

    phase: TaskPhase = Field(
        "Pending", description="Pending, Running, Succeeded, Failed or Cancelled."
    )
    selected: int = Field(0, ge=0, description="Nodes the task applies to.")
    succeeded: int = Field(0, ge=0, description="Nodes done with every model.")
    failed: int = Field(0, ge=0, description="Nodes where some model failed.")
    running: int = Field(0, ge=0, description="Nodes working now.")
    pending: int = Field(0, ge=0, description="Nodes not started yet.")
    admitted: list[str] | None = Field(
        None,
        description="With maxConcurrent: the nodes allowed to work now (agents wait for their "
        "name). Unset: every selected node may work.",
    )
    nodes: list[NodeOutcome] = Field(
        default_factory=list,
        description=f"Per-node outcomes, failures first, at most {MAX_STATUS_NODES}.",
    )
    start_time: datetime | None = Field(None, description="When the first node started.")
    completion_time: datetime | None = Field(None, description="When the task finished.")
    observed_generation: int | None = Field(None, ge=0, description="metadata.generation judged.")
    conditions: list[Condition] = Field(default_factory=list, description="Complete / Failed.")


class OllamaTask(ContractModel):
    api_version: Literal["obt.dev/v1alpha1"] = Field(
        "obt.dev/v1alpha1", description="obt.dev/v1alpha1"
    )
    kind: Literal["OllamaTask"] = Field("OllamaTask", description="OllamaTask")
    metadata: ObjectMeta
    spec: OllamaTaskSpec
    status: OllamaTaskStatus = Field(default_factory=OllamaTaskStatus)


def _check_concurrency(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 1:
            raise ValueError("maxConcurrentPulls must be at least 1")
        return value
    text = value.strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    if not _PERCENT_RE.match(text):
        raise ValueError(f"{value!r} is not a count (>= 1) or a percentage like '25%'")
    return text


class OllamaModelSetSpec(ContractModel):
    """Models that must be present (optionally kept loaded) on the nodes a selector picks."""

    models: list[ModelRef] = Field(
        ..., min_length=1, max_length=50, description="The models every selected node keeps."
    )
    node_selector: LabelSelector = Field(
        default_factory=LabelSelector,
        description="Label selector over OllamaNode labels; empty selects every node.",
    )
    keep_loaded: bool = Field(
        False,
        description="Keep the models loaded (keep_alive -1), loading them again after restarts.",
    )
    max_concurrent_pulls: int | str = Field(
        1,
        description="At most this many nodes pull at once: a count or a percentage of the "
        "selected nodes ('25%', rounded up).",
    )
    prune: bool = Field(
        False,
        description="Delete from the selected nodes the models that no model set names "
        "(never a loaded one). Off by default.",
    )

    @field_validator("max_concurrent_pulls")
    @classmethod
    def _concurrency(cls, value: int | str) -> int | str:
        return _check_concurrency(value)


class MemberStatus(ContractModel):
    """One selected node against a model set (NodeOutcome with the drift named)."""

    node: str = Field(..., description="OllamaNode name.")
    state: MemberState = Field(..., description="Ready, Pulling, Waiting or Failed.")
    missing: list[str] = Field(default_factory=list, description="Models not installed yet.")
    drifted: list[str] = Field(
        default_factory=list,
        description="Models installed with another digest than the pinned one.",
    )
    reason: str | None = Field(None, description="One CamelCase word when not Ready.")
    message: str = Field("", description="What is wrong, with Ollama's own error text.")
    completed_bytes: int | None = Field(None, ge=0, description="Bytes pulled so far.")
    total_bytes: int | None = Field(None, ge=0, description="Bytes to pull in all.")


class OllamaModelSetStatus(ContractModel):
    """Computed by obt.core.actions.modelset_status; written by the operator or local reconciler."""

    selected: int = Field(0, ge=0, description="Nodes the selector picks.")
    ready: int = Field(0, ge=0, description="Nodes with every model (digest, loaded) as asked.")
    pulling: int = Field(0, ge=0, description="Nodes pulling now.")
    waiting: int = Field(0, ge=0, description="Nodes waiting for a pull slot.")
    failed: int = Field(0, ge=0, description="Nodes whose last attempt failed.")
    drifted: int = Field(0, ge=0, description="Nodes with a model whose digest drifted.")
    admitted: list[str] = Field(
        default_factory=list,
        description="Nodes allowed to pull now (at most maxConcurrentPulls); agents wait for "
        "their name before pulling.",
    )
    nodes: list[MemberStatus] = Field(
        default_factory=list,
        description=f"Nodes that are not Ready, failures first, at most {MAX_STATUS_NODES}.",
    )
    observed_generation: int | None = Field(None, ge=0, description="metadata.generation judged.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Progressing and Degraded."
    )


class OllamaModelSet(ContractModel):
    api_version: Literal["obt.dev/v1alpha1"] = Field(
        "obt.dev/v1alpha1", description="obt.dev/v1alpha1"
    )
    kind: Literal["OllamaModelSet"] = Field("OllamaModelSet", description="OllamaModelSet")
    metadata: ObjectMeta
    spec: OllamaModelSetSpec
    status: OllamaModelSetStatus = Field(default_factory=OllamaModelSetStatus)


__all__ = [
    "ACTIONS",
    "FINISHED_STEP_PHASES",
    "MAX_ACTIVITY",
    "MAX_MESSAGE",
    "MAX_STATUS_NODES",
    "TASK_PHASES",
    "Action",
    "Activity",
    "LabelSelector",
    "LabelSelectorRequirement",
    "MemberState",
    "MemberStatus",
    "ModelRef",
    "NodeOutcome",
    "OllamaModelSet",
    "OllamaModelSetSpec",
    "OllamaModelSetStatus",
    "OllamaTask",
    "OllamaTaskSpec",
    "OllamaTaskStatus",
    "SourceKind",
    "StepPhase",
    "TaskPhase",
    "check_model_name",
    "normalize_digest",
    "same_digest",
]
