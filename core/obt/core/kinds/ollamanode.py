"""The OllamaNode kind: one per machine that runs (or should run) Ollama."""

from __future__ import annotations

from obt.core.kinds.base import Kind, PrinterColumn
from obt.core.models.node import (
    CATEGORIES,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    OllamaNode,
    OllamaNodeSpec,
    OllamaNodeStatus,
)

# Columns of `kubectl get ollamanodes`; priority 1 ones show only with `-o wide`.
PRINTER_COLUMNS: list[PrinterColumn] = [
    {
        "name": "Status",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Liveness judged by the operator.",
    },
    {
        "name": "Ollama",
        "type": "string",
        "jsonPath": ".status.ollama.version",
        "description": "Ollama server version.",
    },
    {
        "name": "Models",
        "type": "integer",
        "jsonPath": ".status.summary.models",
        "description": "Installed models.",
    },
    {
        "name": "Loaded",
        "type": "integer",
        "jsonPath": ".status.summary.loaded",
        "description": "Models loaded in memory now.",
    },
    {
        "name": "GPUs",
        "type": "string",
        "jsonPath": ".status.summary.gpus",
        "description": "GPU summary.",
    },
    {
        "name": "VRAM",
        "type": "string",
        "jsonPath": ".status.summary.vram",
        "description": "VRAM held by loaded models / total.",
    },
    {
        "name": "Since",
        "type": "date",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].lastTransitionTime',
        "description": "When STATUS last changed.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "OS",
        "type": "string",
        "jsonPath": ".status.summary.os",
        "priority": 1,
        "description": "Operating system.",
    },
    {
        "name": "CPU",
        "type": "string",
        "jsonPath": ".status.summary.cpu",
        "priority": 1,
        "description": "CPU model and cores.",
    },
    {
        "name": "Agent",
        "type": "string",
        "jsonPath": ".status.agent.version",
        "priority": 1,
        "description": "OBT agent version.",
    },
    {
        "name": "Source",
        "type": "string",
        "jsonPath": ".spec.source",
        "priority": 1,
        "description": "daemonset or standalone.",
    },
]

OLLAMANODE = Kind(
    kind=KIND,
    plural=PLURAL,
    singular=SINGULAR,
    short_names=tuple(SHORT_NAMES),
    categories=tuple(CATEGORIES),
    scope="Cluster",
    status_subresource=True,
    printer_columns=tuple(PRINTER_COLUMNS),
    description="An OllamaNode is one machine that runs Ollama: its hardware, its Ollama "
    "server and models, and whether it is alive. Named after the Kubernetes node "
    "(daemonset) or the standalone host's configured id.",
    model=OllamaNode,
    spec=OllamaNodeSpec,
    status=OllamaNodeStatus,
)
