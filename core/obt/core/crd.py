"""Generate the OllamaNode CustomResourceDefinition from the pydantic models.

`obt crd` prints it; `crds/ollamanode.yaml` is its committed output and a test fails when the
two differ. The schema is made *structural* the way Kubernetes requires
(https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
no `$ref`, every node typed, `Optional[X]` as X with `nullable: true` instead of `anyOf` with null.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from obt.core.models import (
    CATEGORIES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    OllamaNodeSpec,
    OllamaNodeStatus,
)

JSONSchema = dict[str, Any]

# Keys pydantic emits that a CRD schema does not want: titles are noise, and defaults would make
# the API server write values the agent never sent.
_DROP_KEYS = {"title", "default", "examples"}

# Columns of `kubectl get ollamanodes`; priority 1 ones show only with `-o wide`.
PRINTER_COLUMNS: list[dict[str, Any]] = [
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


def _resolve(node: Any, defs: dict[str, JSONSchema]) -> Any:
    """Inline `$ref`s and rewrite nullable unions, recursively."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _resolve({**target, **extra}, defs)
    if "anyOf" in node:
        options = node["anyOf"]
        non_null = [o for o in options if o.get("type") != "null"]
        if len(non_null) == 1 and len(options) == 2:
            merged = {**_resolve(non_null[0], defs), "nullable": True}
            merged.update({k: _resolve(v, defs) for k, v in node.items() if k != "anyOf"})
            return {k: v for k, v in merged.items() if k not in _DROP_KEYS}
        raise ValueError(f"cannot express anyOf {options!r} in a structural schema")
    out: JSONSchema = {}
    for key, value in node.items():
        if key in _DROP_KEYS or key == "$defs":
            continue
        if key == "properties":
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _resolve(value, defs)
    if "const" in out:
        out["enum"] = [out.pop("const")]
    return out


def structural_schema(model: type[Any]) -> JSONSchema:
    """A model's JSON schema as a structural Kubernetes openAPIV3Schema."""
    raw = model.model_json_schema(by_alias=True, mode="serialization")
    defs = raw.pop("$defs", {})
    schema: JSONSchema = _resolve(raw, defs)
    return schema


def openapi_schema() -> JSONSchema:
    return {
        "type": "object",
        "description": "An OllamaNode is one machine that runs Ollama: its hardware, its Ollama "
        "server and models, and whether it is alive. Named after the Kubernetes node "
        "(daemonset) or the standalone host's configured id.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(OllamaNodeSpec),
            "status": structural_schema(OllamaNodeStatus),
        },
    }


def build_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "obt"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    header = "# Generated by `obt crd` from obt.core.models: do not edit by hand.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)
