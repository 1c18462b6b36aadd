"""What a node is doing: the `status.activity` entries its agent writes into its own OllamaNode."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from obt.core.models.base import ContractModel

Action = Literal["pull", "delete", "load", "unload"]
ACTIONS: tuple[Action, ...] = ("pull", "delete", "load", "unload")
# What a step does: a model action, or measuring a model for an OllamaBenchmark.
StepAction = Literal["pull", "delete", "load", "unload", "benchmark"]
# One (node, model, action) step as the agent reports it in `status.activity`.
StepPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled", "Skipped"]
FINISHED_STEP_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed", "Cancelled", "Skipped"})
SourceKind = Literal["OllamaTask", "OllamaModelSet", "OllamaBenchmark"]
# How many activity entries an OllamaNode keeps (running first, then the most recent finished).
MAX_ACTIVITY = 20


class Activity(ContractModel):
    """One step of work on a node: an action on one model for one task or model set.

    Written by the node's agent into its own OllamaNode's `status.activity` (at most one write
    per 5 s while work runs, none while idle); the aggregation reads it.
    """

    source_kind: SourceKind = Field(
        ..., description="OllamaTask, OllamaModelSet or OllamaBenchmark."
    )
    source: str = Field(..., description="Name of the task or model set.")
    source_uid: str | None = Field(
        None, description="metadata.uid of the task or set (a re-created name is new work)."
    )
    generation: int | None = Field(
        None, description="metadata.generation of the source the step was planned from."
    )
    action: StepAction = Field(..., description="pull, delete, load, unload or benchmark.")
    model: str = Field(..., description="Model name.")
    phase: StepPhase = Field(
        ..., description="Pending, Running, Succeeded, Failed, Cancelled, Skipped."
    )
    reason: str | None = Field(None, description="One CamelCase word for a failure or skip.")
    message: str = Field("", description="Progress ('pulling 3f1a…') or Ollama's error text.")
    digest: str | None = Field(None, description="Digest the model has after the step.")
    completed_bytes: int | None = Field(None, ge=0, description="Bytes pulled so far.")
    total_bytes: int | None = Field(None, ge=0, description="Bytes to pull in all.")
    attempts: int = Field(0, ge=0, description="Tries so far (a failed pull is retried).")
    result: str | None = Field(
        None, description="benchmark: the OllamaBenchmarkResult written (or reused)."
    )
    started_at: datetime | None = Field(None, description="When the step started.")
    finished_at: datetime | None = Field(None, description="When the step finished.")

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_STEP_PHASES

    def key(self) -> tuple[str, str, str, str]:
        return (self.source_kind, self.source, self.action, self.model)
