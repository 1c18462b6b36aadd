"""Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.

Mirrors apiextensions-apiserver/pkg/registry/customresource/tableconvertor: Name first, then the
version's additionalPrinterColumns (all priorities: kubectl hides priority > 0 unless `-o wide`);
a CRD without printer columns gets the default Age column; `type: date` cells are rendered as a
human duration (meta/table.ConvertToHumanReadableDateType). JSONPath subset: `.a.b`, `[n]`,
`[*]`, `['key']` and filters `[?(@.k=="v")]`; several results are joined with ",".
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from obt.core.summary import human_duration
from tests.support.kube_resources import ResourceInfo

_TOKEN = re.compile(
    r"\.([A-Za-z0-9_\-/]+)|\[\?\(@\.([A-Za-z0-9_.]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]"
    r"|\[(\*|\d+)\]|\[['\"]([^'\"]+)['\"]\]"
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    current = [obj]
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            raise ValueError(f"unsupported JSONPath {path!r} at {pos}")
        pos = m.end()
        field, fkey, fvalue, index, quoted = m.groups()
        nxt: list[Any] = []
        for item in current:
            if field is not None or quoted is not None:
                key = field if field is not None else quoted
                if isinstance(item, dict) and key in item:
                    nxt.append(item[key])
            elif fkey is not None:
                for element in item if isinstance(item, list) else []:
                    value = element
                    for part in fkey.split("."):
                        value = value.get(part) if isinstance(value, dict) else None
                    if value is not None and str(value) == fvalue:
                        nxt.append(element)
            elif index == "*":
                nxt.extend(item if isinstance(item, list) else (item or {}).values())
            elif isinstance(item, list) and int(index) < len(item):
                nxt.append(item[int(index)])
        current = nxt
    return current


def _age(timestamp: Any) -> str | None:
    if not isinstance(timestamp, str):
        return None
    try:
        when = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return human_duration((datetime.now(timezone.utc) - when).total_seconds())


def _columns(info: ResourceInfo) -> list[dict[str, Any]]:
    if info.printer_columns:
        return info.printer_columns
    return [
        {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
            "description": "CreationTimestamp is a timestamp representing the server time when "
            "this object was created.",
        }
    ]


def _cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    try:
        values = jsonpath(obj, column["jsonPath"])
    except ValueError:
        return None
    if not values:
        return None
    if len(values) > 1:
        return ",".join(str(v) for v in values)
    value = values[0]
    kind = column.get("type", "string")
    if kind == "date":
        return _age(value)
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, (int, float)):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if isinstance(value, (dict, list)):
        return str(value)
    return value if kind == "string" else str(value)


def to_table(
    info: ResourceInfo, objects: list[dict[str, Any]], list_meta: dict[str, Any], include: str
) -> dict[str, Any]:
    definitions = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name must be unique within a namespace.",
            "priority": 0,
        }
    ]
    columns = _columns(info)
    for column in columns:
        definitions.append(
            {
                "name": column["name"],
                "type": column.get("type", "string"),
                "format": column.get("format", ""),
                "description": column.get("description", ""),
                "priority": column.get("priority", 0),
            }
        )
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [obj["metadata"]["name"]]}
        row["cells"].extend(_cell(c, obj) for c in columns)
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": definitions,
        "rows": rows,
    }
