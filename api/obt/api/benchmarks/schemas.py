"""Bodies and answers of /api/v1/benchmarks, /api/v1/benchmark-results and the agents'
benchmark routes. Benchmarks travel in their custom resource's wire form."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from obt.api.schemas import ApiModel, Page
from obt.core.models.base import ContractModel
from obt.core.models.benchmark import (
    OllamaBenchmark,
    OllamaBenchmarkResultSpec,
    OllamaBenchmarkSpec,
    Regression,
    ResultFlag,
    Stats,
)

Placement = Literal["gpu", "split", "cpu"]


class BenchmarkMeta(ContractModel):
    """What a creator may set of a new benchmark's metadata."""

    name: str | None = Field(
        None,
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Name (a DNS label); generated from the first model when absent.",
    )
    labels: dict[str, str] | None = Field(None, description="Labels of the benchmark.")


class BenchmarkCreate(ContractModel):
    """`POST /api/v1/benchmarks`: an OllamaBenchmark's metadata (optional) and spec."""

    metadata: BenchmarkMeta = Field(default_factory=BenchmarkMeta, description="Name, labels.")
    spec: OllamaBenchmarkSpec = Field(..., description="What to measure where.")


class BenchmarkPage(Page[OllamaBenchmark]):
    """A page of benchmarks, newest first."""


class BenchmarkResult(ApiModel):
    """One stored result (the SQL history: kept after its custom resources are deleted)."""

    name: str = Field(..., description="The OllamaBenchmarkResult's name.")
    benchmark: str = Field(..., description="The benchmark that produced it.")
    node: str = Field(..., description="OllamaNode name.")
    model: str = Field(..., description="Model name.")
    fingerprint: str = Field(..., description="sha256 of everything the figure depends on.")
    comparable_key: str = Field(
        ..., description="The fingerprint without the node's own facts: equal keys compare."
    )
    placement: Placement = Field(..., description="gpu, split or cpu.")
    pp: Stats = Field(..., description="Prompt processing, tokens/s.")
    tg: Stats = Field(..., description="Generation, tokens/s.")
    ttft_ms: Stats = Field(..., description="Time to first token, ms.")
    flags: list[ResultFlag] = Field(default_factory=list, description="What to read with care.")
    cached: bool = Field(..., description="Reused from an earlier result (no model run).")
    measured_at: datetime = Field(..., description="When it was measured.")
    ollama_version: str = Field(..., description="Ollama server version.")
    model_digest: str = Field(..., description="Model digest.")
    gpu_driver: str | None = Field(None, description="GPU driver version.")
    gpus: list[str] = Field(default_factory=list, description="GPU names.")
    regression: Regression | None = Field(None, description="Set when clearly slower.")
    spec: OllamaBenchmarkResultSpec | None = Field(
        None, description="The whole result: facts, options, every figure (exports only)."
    )


class BenchmarkResultPage(Page[BenchmarkResult]):
    """A page of results, newest first."""


class StoredResult(ContractModel):
    """A stored result in the agents' wire form: its name and whole spec."""

    name: str = Field(..., description="The OllamaBenchmarkResult's name.")
    spec: OllamaBenchmarkResultSpec = Field(..., description="The result.")


class ResultSubmit(ContractModel):
    """`POST /api/v1/agents/{name}/benchmark-results`: one result of the agent's own node."""

    spec: OllamaBenchmarkResultSpec = Field(..., description="The result (spec.node: this node).")


class ResultAccepted(ContractModel):
    name: str = Field(..., description="The name the result is stored under.")


class CompareCell(ApiModel):
    """The latest comparable result of one node for one model."""

    node: str = Field(..., description="OllamaNode name.")
    result: str = Field(..., description="The result's name.")
    pp_mean: float = Field(..., description="pp tokens/s, mean.")
    pp_stddev: float = Field(..., description="pp tokens/s, standard deviation.")
    tg_mean: float = Field(..., description="tg tokens/s, mean.")
    tg_stddev: float = Field(..., description="tg tokens/s, standard deviation.")
    ttft_ms: float = Field(..., description="Time to first token, ms (mean).")
    cv: float = Field(..., description="The larger of pp's and tg's coefficients of variation.")
    placement: Placement = Field(..., description="gpu, split or cpu.")
    flags: list[ResultFlag] = Field(default_factory=list, description="What to read with care.")
    measured_at: datetime = Field(..., description="When it was measured.")


class BestMachine(ApiModel):
    node: str = Field(..., description="The node with the highest tg among comparable results.")
    tg_mean: float = Field(..., description="Its tg tokens/s.")
    placement: Placement = Field(..., description="gpu, split or cpu.")
    label: str = Field(
        ..., description="'full GPU', 'split GPU/CPU' or 'CPU only': how it ran there."
    )
    best_full_gpu: str | None = Field(
        None, description="When the best ran split or on the CPU: the best full-GPU node, if any."
    )


class CompareRow(ApiModel):
    """One model across the nodes."""

    model: str = Field(..., description="Model name.")
    key: str = Field(..., description="The comparable key every cell shares.")
    ollama_version: str = Field(..., description="Ollama version of the compared results.")
    model_digest: str = Field(..., description="Model digest of the compared results.")
    other_keys: int = Field(
        ..., description="Results of this model under other keys, left out (not comparable)."
    )
    cells: list[CompareCell] = Field(..., description="One per node that has a result.")
    best: BestMachine | None = Field(None, description="The best machine for this model.")


class CompareMatrix(ApiModel):
    """Nodes x models: the latest comparable result of each pair."""

    nodes: list[str] = Field(..., description="Every node that appears in a row, sorted.")
    rows: list[CompareRow] = Field(..., description="One per model, sorted by name.")


class HistoryPoint(ApiModel):
    result: str = Field(..., description="The result's name.")
    benchmark: str = Field(..., description="Its benchmark.")
    measured_at: datetime = Field(..., description="When it was measured.")
    pp: Stats = Field(..., description="Prompt processing, tokens/s.")
    tg: Stats = Field(..., description="Generation, tokens/s.")
    ttft_ms: Stats = Field(..., description="Time to first token, ms.")
    fingerprint: str = Field(..., description="The result's fingerprint.")
    ollama_version: str = Field(..., description="Ollama server version.")
    gpu_driver: str | None = Field(None, description="GPU driver version.")
    placement: Placement = Field(..., description="gpu, split or cpu.")
    flags: list[ResultFlag] = Field(default_factory=list, description="What to read with care.")
    cached: bool = Field(..., description="Reused from an earlier result.")
    regression: Regression | None = Field(None, description="Set when clearly slower.")


class History(ApiModel):
    """One node+model over time, oldest first."""

    node: str
    model: str
    points: list[HistoryPoint]
