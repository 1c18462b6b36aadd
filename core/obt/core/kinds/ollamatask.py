"""The OllamaTask kind: one action (pull, delete, load, unload) on chosen nodes, once."""

from __future__ import annotations

from obt.core.kinds.base import Kind, PrinterColumn
from obt.core.models.actions import OllamaTask, OllamaTaskSpec, OllamaTaskStatus

PRINTER_COLUMNS: list[PrinterColumn] = [
    {
        "name": "Action",
        "type": "string",
        "jsonPath": ".spec.action",
        "description": "pull, delete, load or unload.",
    },
    {
        "name": "Models",
        "type": "string",
        "jsonPath": ".spec.models[*].name",
        "description": "Models acted on.",
    },
    {
        "name": "Nodes",
        "type": "integer",
        "jsonPath": ".status.selected",
        "description": "Nodes selected.",
    },
    {
        "name": "Done",
        "type": "integer",
        "jsonPath": ".status.succeeded",
        "description": "Nodes done.",
    },
    {
        "name": "Failed",
        "type": "integer",
        "jsonPath": ".status.failed",
        "description": "Nodes failed.",
    },
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Pending, Running, Succeeded, Failed or Cancelled.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

OLLAMATASK = Kind(
    kind="OllamaTask",
    plural="ollamatasks",
    singular="ollamatask",
    short_names=("otask",),
    printer_columns=tuple(PRINTER_COLUMNS),
    description="An OllamaTask is one action (pull, delete, load or unload) of some models on "
    "chosen OllamaNodes, done once, like a Job. Agents do the work against their Ollama; the "
    "operator (or `obt serve`) sums up their progress in the status.",
    model=OllamaTask,
    spec=OllamaTaskSpec,
    status=OllamaTaskStatus,
)
