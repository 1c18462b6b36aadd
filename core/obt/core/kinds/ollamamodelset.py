"""The OllamaModelSet kind: models kept present (optionally loaded) on the nodes it selects."""

from __future__ import annotations

from obt.core.kinds.base import Kind, PrinterColumn
from obt.core.models.actions import OllamaModelSet, OllamaModelSetSpec, OllamaModelSetStatus

PRINTER_COLUMNS: list[PrinterColumn] = [
    {
        "name": "Models",
        "type": "string",
        "jsonPath": ".spec.models[*].name",
        "description": "Models kept.",
    },
    {
        "name": "Selected",
        "type": "integer",
        "jsonPath": ".status.selected",
        "description": "Nodes selected.",
    },
    {
        "name": "Ready",
        "type": "integer",
        "jsonPath": ".status.ready",
        "description": "Nodes with every model.",
    },
    {
        "name": "Pulling",
        "type": "integer",
        "jsonPath": ".status.pulling",
        "description": "Nodes pulling now.",
    },
    {
        "name": "Failed",
        "type": "integer",
        "jsonPath": ".status.failed",
        "description": "Nodes whose last attempt failed.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

OLLAMAMODELSET = Kind(
    kind="OllamaModelSet",
    plural="ollamamodelsets",
    singular="ollamamodelset",
    short_names=("omset",),
    printer_columns=tuple(PRINTER_COLUMNS),
    description="An OllamaModelSet names models that must be present (and optionally kept "
    "loaded) on every OllamaNode its label selector picks, like a DaemonSet for models; nodes "
    "that join later get them too.",
    model=OllamaModelSet,
    spec=OllamaModelSetSpec,
    status=OllamaModelSetStatus,
)
