"""Benchmarks: `OllamaBenchmark` (models x chosen nodes, measured once) and
`OllamaBenchmarkResult` (one node+model measurement, owned by its benchmark).

Writers (ARCHITECTURE.md "Actions"): people write a benchmark's `spec`; the operator (or the API's
local reconciler) writes its `status`; each node's agent creates the results of its own node
(standalone agents through the API). The API keeps every result in SQL after the custom
resources are gone. docs/benchmarks.md explains the method these fields record.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from obt.core.models.actions import LabelSelector, ModelRef, TaskPhase
from obt.core.models.base import ContractModel
from obt.core.models.node import Condition, ObjectMeta

# Bump when the way the agent measures changes: results of another method version are never
# reused from the cache nor compared.
METHOD_VERSION = 1
DEFAULT_MAX_AGE = "7d"
Placement = Literal["gpu", "split", "cpu"]
ResultFlag = Literal["noisy", "early-stop", "prompt-cached", "split", "cold-load-unmeasured"]
_AGE_RE = re.compile(r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$")


def parse_age(text: str) -> timedelta:
    """'7d', '36h', '1d12h', '90m', '0s' -> timedelta; ValueError naming the text otherwise."""
    value = text.strip()
    match = _AGE_RE.match(value)
    if not value or not match:
        raise ValueError(f"{text!r} is not an age like '7d', '36h', '1d12h' or '90m'")
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    seconds = sum(int(part[:-1]) * units[part[-1]] for part in match.groups() if part)
    return timedelta(seconds=seconds)


class BenchmarkPrompt(ContractModel):
    """A prompt of a custom suite."""

    name: str = Field(..., min_length=1, max_length=63, description="Short name, e.g. 'rag'.")
    text: str = Field(..., min_length=1, max_length=100_000, description="The prompt text.")


class BenchmarkOptions(ContractModel):
    """Ollama options every repetition runs with (recorded with each result)."""

    num_predict: int = Field(
        128, ge=1, le=8192, description="Tokens to generate (tg is measured over these)."
    )
    num_ctx: int = Field(4096, ge=256, le=1_048_576, description="Context window in tokens.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature (0: greedy).")
    seed: int = Field(42, description="Sampling seed.")
    extra: dict[str, str] | None = Field(
        None,
        description="Further Ollama options as text (e.g. num_gpu: '99', num_thread: '16'); "
        "numbers and true/false are sent to Ollama as such. Part of the fingerprint.",
    )

    def ollama_options(self) -> dict[str, float | int | bool | str]:
        """The `options` object of an Ollama request."""
        out: dict[str, float | int | bool | str] = {
            "num_predict": self.num_predict,
            "num_ctx": self.num_ctx,
            "temperature": self.temperature,
            "seed": self.seed,
        }
        for key, text in sorted((self.extra or {}).items()):
            value: float | int | bool | str = text
            if text in ("true", "false"):
                value = text == "true"
            else:
                try:
                    value = int(text)
                except ValueError:
                    try:
                        value = float(text)
                    except ValueError:
                        value = text
            out[key] = value
        return out


class OllamaBenchmarkSpec(ContractModel):
    """How fast each model runs on each chosen node."""

    models: list[ModelRef] = Field(..., min_length=1, max_length=20, description="Models.")
    nodes: list[str] | None = Field(None, description="OllamaNode names (or nodeSelector).")
    node_selector: LabelSelector | None = Field(
        None, description="Label selector over OllamaNode labels (or nodes)."
    )
    repetitions: int = Field(5, ge=5, le=100, description="Measured runs per prompt (>= 5).")
    warmup: int = Field(1, ge=1, le=10, description="Runs before measuring, not counted.")
    suite: Literal["default", "none"] = Field(
        "default",
        description="'default': the built-in prompt suite (short chat, ~1k-token summary, "
        "code); 'none': only the custom prompts.",
    )
    prompts: list[BenchmarkPrompt] | None = Field(
        None, max_length=20, description="Custom prompts, run after the suite's."
    )
    options: BenchmarkOptions = Field(
        default_factory=BenchmarkOptions, description="Ollama options for every run."
    )
    cold_load: bool = Field(
        False,
        description="Measure a cold load first (unload, then load): load time reported apart.",
    )
    max_age: str = Field(
        DEFAULT_MAX_AGE,
        description="Reuse a stored result with the same fingerprint younger than this "
        "('7d', '36h'); see force.",
    )
    force: bool = Field(False, description="Run even where a cached result would do.")
    evict: bool = Field(
        False,
        description="May unload models someone else loaded to make room (otherwise such a "
        "node is skipped with reason Busy).",
    )
    noisy_cv: float = Field(
        0.10, gt=0, le=1, description="A coefficient of variation above this marks noisy."
    )
    cancel: bool = Field(False, description="Set to stop the benchmark.")

    @field_validator("max_age")
    @classmethod
    def _age(cls, value: str) -> str:
        parse_age(value)
        return value.strip()

    @model_validator(mode="after")
    def _target(self) -> OllamaBenchmarkSpec:
        if (self.nodes is None) == (self.node_selector is None):
            raise ValueError("give nodes (names) or nodeSelector (labels), exactly one")
        if self.nodes is not None and not self.nodes:
            raise ValueError("nodes is empty")
        if self.suite == "none" and not self.prompts:
            raise ValueError("suite 'none' needs prompts")
        return self


class BenchmarkNode(ContractModel):
    """How one (node, model) of a benchmark fared."""

    node: str = Field(..., description="OllamaNode name.")
    model: str = Field(..., description="Model name.")
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Skipped", "Cancelled"] = Field(
        ..., description="Where it stands."
    )
    reason: str | None = Field(
        None, description="For Skipped/Failed: DoesNotFit, Busy, NotInstalled, OllamaError..."
    )
    message: str = Field("", description="What happened, with Ollama's own error text.")
    result: str | None = Field(None, description="Name of the OllamaBenchmarkResult.")
    cached: bool = Field(False, description="Reused a stored result (no model run).")


class OllamaBenchmarkStatus(ContractModel):
    """Written by the operator (cluster) or the API's local reconciler."""

    phase: TaskPhase = Field(
        "Pending", description="Pending, Running, Succeeded, Failed, Cancelled."
    )
    selected: int = Field(0, ge=0, description="(node, model) pairs to measure.")
    done: int = Field(0, ge=0, description="Pairs with a result (ran or reused).")
    running: int = Field(0, ge=0, description="Pairs measuring now.")
    skipped: int = Field(0, ge=0, description="Pairs skipped (reasons in nodes).")
    failed: int = Field(0, ge=0, description="Pairs that failed.")
    ran: int = Field(0, ge=0, description="Results measured by this benchmark.")
    reused: int = Field(0, ge=0, description="Results reused from the cache.")
    nodes: list[BenchmarkNode] = Field(
        default_factory=list, description="Per (node, model) outcomes, failures first, <= 100."
    )
    start_time: datetime | None = Field(None, description="When the first pair started.")
    completion_time: datetime | None = Field(None, description="When the benchmark finished.")
    observed_generation: int | None = Field(None, ge=0, description="metadata.generation judged.")
    conditions: list[Condition] = Field(default_factory=list, description="Complete / Failed.")


class OllamaBenchmark(ContractModel):
    api_version: Literal["obt.dev/v1alpha1"] = Field(
        "obt.dev/v1alpha1", description="obt.dev/v1alpha1"
    )
    kind: Literal["OllamaBenchmark"] = Field("OllamaBenchmark", description="OllamaBenchmark")
    metadata: ObjectMeta
    spec: OllamaBenchmarkSpec
    status: OllamaBenchmarkStatus = Field(default_factory=OllamaBenchmarkStatus)


class Stats(ContractModel):
    """Summary of n repeated measurements."""

    mean: float = Field(..., description="Arithmetic mean.")
    stddev: float = Field(..., ge=0, description="Sample standard deviation (n-1).")
    min: float = Field(..., description="Smallest value.")
    max: float = Field(..., description="Largest value.")
    n: int = Field(..., ge=1, description="Number of measurements.")
    cv: float = Field(..., ge=0, description="Coefficient of variation: stddev / mean.")


class Fingerprint(ContractModel):
    """Everything a measurement depends on; equal fingerprints make results interchangeable."""

    model: str = Field(..., description="Model name.")
    model_digest: str = Field(..., description="Model digest (12+ hex digits).")
    ollama_version: str = Field(..., description="Ollama server version.")
    gpus: list[str] = Field(default_factory=list, description="GPU names, sorted.")
    gpu_driver: str | None = Field(None, description="GPU driver version.")
    cpu: str | None = Field(None, description="CPU model.")
    memory_gib: int | None = Field(None, ge=0, description="System memory, whole GiB.")
    placement: Placement = Field(..., description="gpu (all layers on GPUs), split or cpu.")
    options: BenchmarkOptions = Field(..., description="Ollama options.")
    suite_hash: str = Field(..., description="sha256 of the prompts run.")
    method_version: int = Field(METHOD_VERSION, description="The agent's measuring method.")


class Regression(ContractModel):
    """A result clearly slower than the previous one with the same fingerprint except the
    Ollama version or GPU driver."""

    previous_result: str = Field(..., description="The earlier result's name.")
    previous_tg: float = Field(..., description="Its tg tokens/s mean.")
    sigmas: float = Field(..., description="How many standard deviations slower.")
    changed: str = Field(..., description="What changed, e.g. 'Ollama 0.5.7 -> 0.6.0'.")


class OllamaBenchmarkResultSpec(ContractModel):
    """One node+model measurement (a record: written once by the node's agent)."""

    benchmark: str = Field(..., description="The OllamaBenchmark it belongs to.")
    benchmark_uid: str | None = Field(None, description="Its metadata.uid.")
    node: str = Field(..., description="OllamaNode name.")
    model: str = Field(..., description="Model name.")
    fingerprint: str = Field(..., description="sha256 of the fingerprint facts.")
    facts: Fingerprint = Field(..., description="The fingerprint's facts.")
    placement: Placement = Field(..., description="gpu, split or cpu (from /api/ps).")
    size_bytes: int | None = Field(None, ge=0, description="Loaded size (/api/ps size).")
    size_vram_bytes: int | None = Field(None, ge=0, description="Part in GPU memory.")
    pp: Stats = Field(..., description="Prompt processing, tokens/s (Ollama's counters).")
    tg: Stats = Field(..., description="Generation, tokens/s (Ollama's counters).")
    ttft_ms: Stats = Field(..., description="Time to first token, ms (streamed).")
    load_ms: float | None = Field(None, ge=0, description="Cold load time, ms (coldLoad).")
    joules_per_token: Stats | None = Field(
        None, description="GPU energy per generated token (NVML power samples)."
    )
    prompt_tokens: int = Field(..., ge=0, description="Prompt tokens evaluated per run (mean).")
    generated_tokens: int = Field(..., ge=0, description="Tokens generated per run (mean).")
    early_stops: int = Field(0, ge=0, description="Runs that ended before numPredict tokens.")
    flags: list[ResultFlag] = Field(default_factory=list, description="What to read with care.")
    cached: bool = Field(False, description="Reused from an earlier result (no model run).")
    reused_from: str | None = Field(None, description="The result it was reused from.")
    measured_at: datetime = Field(..., description="When it was measured.")
    regression: Regression | None = Field(None, description="Set when clearly slower.")


class OllamaBenchmarkResult(ContractModel):
    api_version: Literal["obt.dev/v1alpha1"] = Field(
        "obt.dev/v1alpha1", description="obt.dev/v1alpha1"
    )
    kind: Literal["OllamaBenchmarkResult"] = Field(
        "OllamaBenchmarkResult", description="OllamaBenchmarkResult"
    )
    metadata: ObjectMeta
    spec: OllamaBenchmarkResultSpec
