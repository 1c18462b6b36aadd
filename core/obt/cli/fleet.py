"""`obt nodes` and `obt models`: the inventory for people without kubectl.

The tables are those of `kubectl get ollamanodes` (the columns come from the CRD's printer
columns in obt.core.crd, the VRAM figure from obt.core.summary), read from the OBT API over HTTP
with the standard library (obt.cli.client), so an agent-only install can run them too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from obt.cli.client import EXIT_CODES_HELP, NotFound, api_options, call, find_token
from obt.core.crd import PRINTER_COLUMNS
from obt.core.model_names import normalize_model_name
from obt.core.summary import format_gib, human_duration, vram_label

PAGE = 500  # the API's largest page
PHASES = ("Ready", "NotReady", "Pending", "Unknown")
NONE = "<none>"  # what kubectl prints for an absent value


# -- formatting ---------------------------------------------------------------------------------


def age(stamp: str | None, now: datetime | None = None) -> str:
    if not stamp:
        return NONE
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return human_duration(((now or datetime.now(timezone.utc)) - when).total_seconds())


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns three spaces apart, as kubectl prints them; empty cells as <none>."""
    cells = [[str(c) if c not in (None, "") else NONE for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    ]
    return "\n".join(lines)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


# -- nodes --------------------------------------------------------------------------------------

# A printer column of the CRD -> its value in a node of GET /api/v1/nodes.
NODE_CELLS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Status": lambda n: n.get("phase"),
    "Ollama": lambda n: n.get("ollamaVersion"),
    "Models": lambda n: n.get("modelCount"),
    "Loaded": lambda n: n.get("loadedCount"),
    "GPUs": lambda n: n.get("gpuSummary"),
    "VRAM": lambda n: vram_label(n.get("vramLoadedBytes") or 0, n.get("vramTotalBytes") or 0),
    "Since": lambda n: age(n.get("phaseSince")),
    "Age": lambda n: age(n.get("createdAt")),
    "OS": lambda n: n.get("os"),
    "CPU": lambda n: n.get("cpu"),
    "Agent": lambda n: n.get("agentVersion"),
    "Source": lambda n: n.get("source"),
}


def node_columns(wide: bool) -> list[str]:
    return [c["name"] for c in PRINTER_COLUMNS if wide or not c.get("priority")]


def node_table(nodes: list[dict[str, Any]], wide: bool) -> str:
    columns = node_columns(wide)
    headers = ["NAME", *(c.upper() for c in columns)]
    rows = [[n["name"], *(NODE_CELLS[c](n) for c in columns)] for n in nodes]
    return render_table(headers, rows)


def parse_selector(text: str) -> list[str]:
    """A Kubernetes equality-based label selector ('zone=a,gpu!=none,!spot') -> the API's
    `label` requirements. Set-based ones ('zone in (a,b)') are refused with a clear message."""
    if "(" in text or ")" in text or any(" " in part.strip() for part in text.split(",")):
        raise click.BadParameter(
            f"{text!r}: only equality-based requirements are supported: key, !key, "
            "key=value, key==value, key!=value (comma-separated; 'in' and 'notin' are not)",
            param_hint="--selector",
        )
    requirements = [part.strip() for part in text.split(",") if part.strip()]
    for req in requirements:
        key = req.lstrip("!").split("!=")[0].split("=")[0]
        if not key:
            raise click.BadParameter(f"{req!r} has no label key", param_hint="--selector")
    return requirements


def fetch_all(
    server: str, path: str, params: list[tuple[str, str]], token: str | None = None
) -> list[dict[str, Any]]:
    """Every page of a paginated list."""
    items: list[dict[str, Any]] = []
    while True:
        page = call(
            server,
            "GET",
            path,
            params=[*params, ("limit", str(PAGE)), ("offset", str(len(items)))],
            token=token,
        )
        items.extend(page["items"])
        if not page["items"] or len(items) >= page["total"]:
            return items


def describe_node(node: dict[str, Any]) -> str:
    """One node in detail, `kubectl describe` style."""
    rows: list[tuple[str, str]] = [
        ("Name", node["name"] + (f" ({node['displayName']})" if node.get("displayName") else "")),
        ("Status", f"{node['phase']} for {age(node.get('phaseSince'))}"),
        ("Source", node.get("source") or NONE),
        ("Labels", ", ".join(f"{k}={v}" for k, v in sorted(node["labels"].items())) or NONE),
        ("Age", age(node.get("createdAt"))),
    ]
    if node.get("lastSeenAt"):
        rows.append(("Last seen", f"{age(node['lastSeenAt'])} ago"))
    ollama = node.get("ollama") or {}
    if ollama.get("reachable"):
        rows.append(("Ollama", f"{ollama.get('version') or '?'} at {ollama.get('url') or '?'}"))
    else:
        rows.append(("Ollama", f"unreachable at {ollama.get('url') or '?'}: {ollama.get('error')}"))
    hardware = node.get("hardware") or {}
    rows += [
        ("OS", node.get("os") or NONE),
        ("CPU", node.get("cpu") or NONE),
        ("Memory", format_gib((hardware.get("memory") or {}).get("totalBytes") or 0)),
        ("Agent", node.get("agentVersion") or NONE),
        ("VRAM", vram_label(node["vramLoadedBytes"], node["vramTotalBytes"]) or NONE),
    ]
    for gpu in hardware.get("gpus") or []:
        rows.append(
            (
                f"GPU {gpu.get('index', '?')}",
                f"{gpu['name']} ({gpu['vendor']}), {format_gib(gpu.get('memoryTotalBytes') or 0)}",
            )
        )
    loaded = {m["name"]: m for m in node.get("loaded") or []}
    rows.append(("Models", f"{node['modelCount']} installed, {node['loadedCount']} loaded"))
    for model in node.get("models") or []:
        held = loaded.get(model["name"])
        note = f"  loaded, {format_gib(held.get('sizeVram') or 0)} VRAM" if held else ""
        rows.append(("", f"{model['name']}  {format_gib(model.get('size') or 0)}{note}"))
    for condition in node.get("conditions") or []:
        rows.append(
            (
                f"Condition {condition['type']}",
                f"{condition['status']} ({condition.get('reason') or '-'}) "
                f"{condition.get('message') or ''}".rstrip(),
            )
        )
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{(k + ':') if k else '':<{width + 1}}  {v}" for k, v in rows)


OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "wide", "json"]),
    default="table",
    show_default=True,
    help="table; wide (adds columns); json (the API's objects, for scripts).",
)


@click.command(name="nodes", epilog=EXIT_CODES_HELP)
@click.argument("name", required=False)
@api_options
@OUTPUT
@click.option(
    "-l",
    "--selector",
    metavar="SELECTOR",
    help="Label selector, as kubectl's: 'zone=a,gpu!=none,!spot,team'.",
)
@click.option(
    "--phase",
    type=click.Choice(PHASES),
    multiple=True,
    help="Only nodes in this phase (repeat for any of several).",
)
@click.option(
    "--loaded",
    metavar="MODEL",
    help="Only nodes with this model loaded ('llama3.2' means 'llama3.2:latest').",
)
@click.option("--installed", metavar="MODEL", help="Only nodes with this model installed.")
def nodes_command(
    name: str | None,
    server: str,
    token: str | None,
    data_dir: Path | None,
    output: str,
    selector: str | None,
    phase: tuple[str, ...],
    loaded: str | None,
    installed: str | None,
) -> None:
    """List the fleet's nodes like `kubectl get ollamanodes`, or show node NAME in detail.

    \b
    obt nodes                        every node
    obt nodes -o wide                with OS, CPU, AGENT and SOURCE
    obt nodes --phase NotReady       the silent ones
    obt nodes --loaded llama3.2      where llama3.2:latest is loaded
    obt nodes -l zone=lab -o json    for scripts
    obt nodes gaming-pc              one node in detail
    """
    auth = find_token(token, data_dir)
    if name:
        if selector or phase or loaded or installed:
            raise click.UsageError(
                "filters (--selector, --phase, --loaded, --installed) list "
                "nodes; they do not apply to one NAME"
            )
        try:
            node = call(server, "GET", f"/api/v1/nodes/{_quote(name)}", token=auth)
        except NotFound as error:
            raise NotFound(f"node {name!r} not found at {server} (see `obt nodes`)") from error
        if output == "json":
            _echo_json(node)
        elif output == "wide":
            click.echo(node_table([node], wide=True))
        else:
            click.echo(describe_node(node))
        return
    params: list[tuple[str, str]] = [("phase", p) for p in phase]
    params += [("label", req) for req in parse_selector(selector or "")]
    if loaded:
        params.append(("loadedModel", normalize_model_name(loaded)))
    if installed:
        params.append(("hasModel", normalize_model_name(installed)))
    items = fetch_all(server, "/api/v1/nodes", params, auth)
    if output == "json":
        _echo_json(items)
    elif items:
        click.echo(node_table(items, wide=output == "wide"))
    else:
        click.echo("No nodes found.", err=True)


# -- models -------------------------------------------------------------------------------------


def _quote(name: str) -> str:
    import urllib.parse

    return urllib.parse.quote(name, safe=":@")


def model_table(models: list[dict[str, Any]], where: dict[str, dict[str, Any]] | None) -> str:
    headers = ["NAME", "NODES", "LOADED", "SIZE", "FAMILY", "PARAMETERS", "QUANTIZATION"]
    if where is not None:
        headers += ["DIGEST", "INSTALLED ON", "LOADED ON"]
    rows = []
    for m in models:
        row = [
            m["name"],
            str(m["nodeCount"]),
            str(m["loadedCount"]),
            format_gib(m.get("size") or 0),
            m.get("family"),
            m.get("parameterSize"),
            m.get("quantizationLevel"),
        ]
        if where is not None:
            detail = where.get(m["name"]) or {}
            row += [
                m.get("digest"),
                ",".join(detail.get("nodes") or []),
                ",".join(detail.get("loadedOn") or []),
            ]
        rows.append(row)
    return render_table(headers, rows)


def describe_model(detail: dict[str, Any], placement: dict[str, Any] | None) -> str:
    lines = [f"Name:       {detail['name']}"]
    for v in detail["variants"]:
        lines.append(
            f"Variant:    digest {v.get('digest') or '?'}, {format_gib(v.get('size') or 0)}, "
            f"{v.get('family') or '?'} {v.get('parameterSize') or ''} "
            f"{v.get('quantizationLevel') or ''}".rstrip()
            + f": on {v['nodeCount']} node(s), loaded on {v['loadedCount']}"
        )
    lines.append(f"Installed:  {', '.join(detail['nodes']) or NONE}")
    lines.append(f"Loaded:     {', '.join(detail['loadedOn']) or NONE}")
    if placement is not None:
        lines.append(
            f"Placement:  Ready nodes that can hold {format_gib(placement['requiredBytes'])}"
        )
        rows = [
            [
                n["name"],
                n["phase"],
                "yes" if n["installed"] else "no",
                "yes" if n["loaded"] else "no",
                format_gib(n["vramFreeBytes"]),
                "vram" if n["fitsInVram"] else "ram" if n["fitsInRam"] else "loaded",
            ]
            for n in placement["nodes"]
        ]
        if rows:
            table = render_table(
                ["NODE", "STATUS", "INSTALLED", "LOADED", "FREE VRAM", "FITS IN"], rows
            )
            lines += ["  " + line for line in table.splitlines()]
        else:
            lines.append("  (no Ready node has room for it)")
    return "\n".join(lines)


@click.command(name="models", epilog=EXIT_CODES_HELP)
@click.argument("name", required=False)
@api_options
@OUTPUT
@click.option("--search", metavar="TEXT", help="Only models whose name contains TEXT.")
def models_command(
    name: str | None,
    server: str,
    token: str | None,
    data_dir: Path | None,
    output: str,
    search: str | None,
) -> None:
    """List the fleet's models (how many nodes have and run each), or show where model NAME is
    installed and loaded and where it would fit. 'llama3.2' means 'llama3.2:latest', as in Ollama.

    \b
    obt models                       the catalogue
    obt models -o wide               with the nodes that have / run each
    obt models llama3.2              one model: its nodes and its placement
    """
    auth = find_token(token, data_dir)
    if name:
        if search:
            raise click.UsageError("--search lists models; it does not apply to one NAME")
        wanted = normalize_model_name(name)
        try:
            detail = call(server, "GET", f"/api/v1/models/{_quote(wanted)}", token=auth)
        except NotFound as error:
            raise NotFound(
                f"model {wanted!r} is on no node at {server} (see `obt models`)"
            ) from error
        placement = call(
            server, "GET", "/api/v1/models/placement", params=[("name", wanted)], token=auth
        )
        if output == "json":
            _echo_json({**detail, "placement": placement})
        elif output == "wide":
            click.echo(model_table(detail["variants"], {wanted: detail}))
        else:
            click.echo(describe_model(detail, placement))
        return
    items = fetch_all(server, "/api/v1/models", [("search", search)] if search else [], auth)
    where = None
    if output != "table":
        where = {
            n: call(server, "GET", f"/api/v1/models/{_quote(n)}", token=auth)
            for n in dict.fromkeys(m["name"] for m in items)
        }
    if output == "json":
        _echo_json(
            [
                {
                    **m,
                    "nodes": (where or {})[m["name"]]["nodes"],
                    "loadedOn": (where or {})[m["name"]]["loadedOn"],
                }
                for m in items
            ]
        )
    elif items:
        click.echo(model_table(items, where))
    else:
        click.echo("No models found.", err=True)
