"""The OllamaBenchmark and OllamaBenchmarkResult kinds: how fast models run on chosen nodes."""

from __future__ import annotations

from obt.core.kinds.base import Kind, PrinterColumn
from obt.core.models.benchmark import (
    OllamaBenchmark,
    OllamaBenchmarkResult,
    OllamaBenchmarkResultSpec,
    OllamaBenchmarkSpec,
    OllamaBenchmarkStatus,
)

BENCHMARK_COLUMNS: list[PrinterColumn] = [
    {
        "name": "Models",
        "type": "string",
        "jsonPath": ".spec.models[*].name",
        "description": "Models measured.",
    },
    {
        "name": "Selected",
        "type": "integer",
        "jsonPath": ".status.selected",
        "description": "(node, model) pairs.",
    },
    {
        "name": "Done",
        "type": "integer",
        "jsonPath": ".status.done",
        "description": "Pairs with a result.",
    },
    {
        "name": "Reused",
        "type": "integer",
        "jsonPath": ".status.reused",
        "description": "Results reused from the cache.",
    },
    {
        "name": "Skipped",
        "type": "integer",
        "jsonPath": ".status.skipped",
        "description": "Pairs skipped.",
    },
    {
        "name": "Failed",
        "type": "integer",
        "jsonPath": ".status.failed",
        "description": "Pairs failed.",
    },
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Pending, Running, Succeeded, Failed, Cancelled.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

RESULT_COLUMNS: list[PrinterColumn] = [
    {"name": "Node", "type": "string", "jsonPath": ".spec.node", "description": "OllamaNode."},
    {"name": "Model", "type": "string", "jsonPath": ".spec.model", "description": "Model."},
    {
        "name": "PP tok/s",
        "type": "number",
        "jsonPath": ".spec.pp.mean",
        "description": "Prompt processing, tokens/s (mean).",
    },
    {
        "name": "TG tok/s",
        "type": "number",
        "jsonPath": ".spec.tg.mean",
        "description": "Generation, tokens/s (mean).",
    },
    {
        "name": "TTFT ms",
        "type": "number",
        "jsonPath": ".spec.ttftMs.mean",
        "description": "Time to first token, ms (mean).",
    },
    {
        "name": "CV",
        "type": "number",
        "jsonPath": ".spec.tg.cv",
        "description": "Coefficient of variation of tg.",
    },
    {
        "name": "Placement",
        "type": "string",
        "jsonPath": ".spec.placement",
        "description": "gpu, split or cpu.",
    },
    {
        "name": "Cached",
        "type": "boolean",
        "jsonPath": ".spec.cached",
        "description": "Reused, not run.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

OLLAMABENCHMARK = Kind(
    kind="OllamaBenchmark",
    plural="ollamabenchmarks",
    singular="ollamabenchmark",
    short_names=("obench",),
    printer_columns=tuple(BENCHMARK_COLUMNS),
    description="An OllamaBenchmark measures how fast some models run on chosen OllamaNodes "
    "(prompt processing and generation tokens/s from Ollama's own counters, time to first "
    "token), reusing stored results with the same fingerprint; docs/benchmarks.md.",
    model=OllamaBenchmark,
    spec=OllamaBenchmarkSpec,
    status=OllamaBenchmarkStatus,
)

OLLAMABENCHMARKRESULT = Kind(
    kind="OllamaBenchmarkResult",
    plural="ollamabenchmarkresults",
    singular="ollamabenchmarkresult",
    short_names=("obr",),
    printer_columns=tuple(RESULT_COLUMNS),
    description="An OllamaBenchmarkResult is one node+model measurement of an OllamaBenchmark, "
    "written once by that node's agent and owned by the benchmark.",
    model=OllamaBenchmarkResult,
    spec=OllamaBenchmarkResultSpec,
    status=None,
    status_subresource=False,
)
