#!/usr/bin/env python3
"""Generate charts/obt/README.md from Chart.yaml, README.md.tmpl and values.yaml's `# --` comments.

helm-docs does the same but ships neither on PyPI nor npm; this covers the subset the chart uses:
a `# -- text` comment (continued on following `#` lines) documents the key below it. A documented
key whose value is a map with documented keys of its own is a section and is not listed itself.

    python scripts/chart-readme.py            # rewrite the README
    python scripts/chart-readme.py --check    # exit 1 when it is stale or a value lacks a comment
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "charts" / "obt"
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-]+):(?:\s|$)")
DOC_START = re.compile(r"^ *# -- ?(?P<text>.*)$")
DOC_MORE = re.compile(r"^ *# ?(?P<text>.*)$")


@dataclass(frozen=True)
class ValueDoc:
    path: str
    description: str


def parse_comments(values_text: str) -> dict[str, str]:
    """Map dotted key paths to the `# --` description written above them."""
    docs: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in values_text.splitlines():
        if match := DOC_START.match(line):
            pending = [match["text"].strip()]
            continue
        if pending is not None and (match := DOC_MORE.match(line)):
            pending.append(match["text"].strip())
            continue
        match = KEY_LINE.match(line)
        if not match or line.lstrip().startswith("-"):
            if not line.strip():
                pending = None
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        path = ".".join(key for _, key in stack)
        if pending is not None:
            docs[path] = " ".join(part for part in pending if part)
        pending = None
    return docs


def _lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return node


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        paths: list[str] = []
        for key, child in node.items():
            paths.extend(_leaf_paths(child, f"{prefix}.{key}" if prefix else str(key)))
        return paths
    return [prefix]


def undocumented(values: dict[str, Any], docs: dict[str, str]) -> list[str]:
    """Leaf values covered by no `# --` comment on themselves or on an ancestor."""
    missing = []
    for leaf in _leaf_paths(values):
        parts = leaf.split(".")
        if not any(".".join(parts[:i]) in docs for i in range(1, len(parts) + 1)):
            missing.append(leaf)
    return missing


def listed(values: dict[str, Any], docs: dict[str, str]) -> list[ValueDoc]:
    rows = []
    for path, description in docs.items():
        value = _lookup(values, path)
        is_section = isinstance(value, dict) and any(other.startswith(path + ".") for other in docs)
        if not is_section:
            rows.append(ValueDoc(path, description))
    return rows


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(chart_dir: Path = CHART) -> str:
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values_text = (chart_dir / "values.yaml").read_text()
    values = yaml.safe_load(values_text)
    docs = parse_comments(values_text)
    lines = [
        "| Key | Type | Default | Description |",
        "|-----|------|---------|-------------|",
    ]
    for row in listed(values, docs):
        value = _lookup(values, row.path)
        default = json.dumps(value, separators=(",", ":"))
        lines.append(
            f"| `{row.path}` | {_type_of(value)} | `{_cell(default)}` | {_cell(row.description)} |"
        )
    template = (chart_dir / "README.md.tmpl").read_text()
    return (
        template.replace("{{ name }}", chart["name"])
        .replace("{{ version }}", str(chart["version"]))
        .replace("{{ appVersion }}", str(chart["appVersion"]))
        .replace("{{ kubeVersion }}", str(chart["kubeVersion"]))
        .replace("{{ description }}", chart["description"])
        .replace("{{ values }}", "\n".join(lines))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the README is stale")
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args()
    values_text = (args.chart / "values.yaml").read_text()
    missing = undocumented(yaml.safe_load(values_text), parse_comments(values_text))
    if missing:
        print("values without a `# --` comment: " + ", ".join(missing), file=sys.stderr)
        return 1
    readme = args.chart / "README.md"
    text = render(args.chart)
    if args.check:
        if not readme.exists() or readme.read_text() != text:
            print(f"{readme} is stale: run `make generate`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(text)
    print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
