"""`obt bench`: run benchmarks on the fleet and read their results through the OBT API.

The method (Ollama's own counters, cache-proof prompts, spread, placement) is in
docs/benchmarks.md; the API keeps every result in SQL (history, compare, export).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import click

from obt.cli.client import EXIT_CODES_HELP, EXIT_ERROR, CallFailed, api_options, call, find_token
from obt.cli.fleet import age, fetch_all, render_table
from obt.core.model_names import normalize_model_name
from obt.core.models.benchmark import parse_age
from obt.core.selectors import parse_selector

TERMINAL = ("Succeeded", "Failed", "Cancelled")
RESULT_COLUMNS = [
    "NODE",
    "MODEL",
    "PP TOK/S",
    "TG TOK/S",
    "TTFT",
    "CV",
    "PLACEMENT",
    "FLAGS",
    "CACHED",
]


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _num(value: float) -> str:
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def _pm(stats: dict[str, Any]) -> str:
    return f"{_num(stats['mean'])} ± {_num(stats['stddev'])}"


def result_rows(results: list[dict[str, Any]], keep_order: bool = False) -> list[list[str]]:
    ordered = results if keep_order else sorted(results, key=lambda r: (r["model"], r["node"]))
    return [
        [
            r["node"],
            r["model"],
            _pm(r["pp"]),
            _pm(r["tg"]),
            f"{r['ttftMs']['mean']:.0f} ms",
            f"{max(r['pp']['cv'], r['tg']['cv']) * 100:.1f}%",
            r["placement"],
            ",".join(r.get("flags") or []),
            "yes" if r.get("cached") else "no",
        ]
        for r in ordered
    ]


def result_table(results: list[dict[str, Any]]) -> str:
    return render_table(RESULT_COLUMNS, result_rows(results))


def progress_line(bench: dict[str, Any]) -> str:
    s = bench.get("status") or {}
    return (
        f"{bench['metadata']['name']}: {s.get('phase', 'Pending')}, "
        f"{s.get('done', 0)}/{s.get('selected', 0)} measured ({s.get('reused', 0)} reused), "
        f"{s.get('running', 0)} running, {s.get('skipped', 0)} skipped, {s.get('failed', 0)} failed"
    )


def problems(bench: dict[str, Any]) -> list[str]:
    """'node / model: Phase (Reason): message' for every pair that did not succeed."""
    return [
        f"{p['node']} / {p['model']}: {p['phase']}"
        + (f" ({p['reason']})" if p.get("reason") else "")
        + (f": {p['message']}" if p.get("message") else "")
        for p in (bench.get("status") or {}).get("nodes") or []
        if p["phase"] in ("Failed", "Skipped", "Cancelled")
    ]


def results_of(server: str, name: str, bench: dict[str, Any], auth: str | None) -> list[Any]:
    """The results this run of benchmark NAME wrote (an older benchmark of the same name had
    other result names)."""
    items = fetch_all(server, "/api/v1/benchmark-results", [("benchmark", name)], auth)
    wanted = {
        p["result"] for p in (bench.get("status") or {}).get("nodes") or [] if p.get("result")
    }
    return [r for r in items if r["name"] in wanted] if wanted else items


@click.group(name="bench", epilog=EXIT_CODES_HELP)
def command() -> None:
    """Measure how fast each model runs on each machine (docs/benchmarks.md).

    \b
    obt bench run llama3.2 --nodes gpu-a,gpu-b --wait
    obt bench run llama3.2 qwen2.5:7b --selector gpu=nvidia --reps 10 --force
    obt bench results --model llama3.2 -o csv > results.csv
    obt bench compare --model llama3.2
    obt bench list
    """


OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table, or json (the API's objects, for scripts).",
)


@command.command(name="run", epilog=EXIT_CODES_HELP)
@click.argument("models", nargs=-1, required=True)
@click.option("--nodes", metavar="A,B", help="OllamaNode names, comma-separated.")
@click.option(
    "-l", "--selector", metavar="SELECTOR", help="Label selector instead: 'gpu=nvidia,!spot'."
)
@click.option(
    "--reps", type=click.IntRange(5, 100), default=5, show_default=True, help="Measured runs."
)
@click.option("--force", is_flag=True, help="Run even where a cached result would do.")
@click.option(
    "--max-age",
    metavar="AGE",
    default="7d",
    show_default=True,
    help="Reuse results younger than this ('7d', '36h') with the same fingerprint.",
)
@click.option("--name", metavar="NAME", help="The benchmark's name (default: generated).")
@click.option("--wait", is_flag=True, help="Show progress until done, then print the results.")
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=3600,
    show_default=True,
    help="With --wait: give up after this many seconds.",
)
@api_options
@OUTPUT
def run_command(
    models: tuple[str, ...],
    nodes: str | None,
    selector: str | None,
    reps: int,
    force: bool,
    max_age: str,
    name: str | None,
    wait: bool,
    timeout: float,
    server: str,
    token: str | None,
    data_dir: Path | None,
    output: str,
) -> None:
    """Benchmark MODELS on the chosen nodes (--nodes or --selector).

    Without --wait it prints the new benchmark's name; with --wait it shows its progress and
    prints the results (node, model, pp and tg tokens/s ± stddev, TTFT, CV, placement, flags,
    cached), and exits 1 naming each node and model that failed or was skipped.
    """
    if (nodes is None) == (selector is None):
        raise click.UsageError("give --nodes a,b or --selector k=v (exactly one)")
    try:
        parse_age(max_age)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--max-age") from error
    spec: dict[str, Any] = {
        "models": [{"name": normalize_model_name(m)} for m in models],
        "repetitions": reps,
        "force": force,
        "maxAge": max_age,
    }
    if nodes is not None:
        names = [n.strip() for n in nodes.split(",") if n.strip()]
        if not names:
            raise click.BadParameter("no node names", param_hint="--nodes")
        spec["nodes"] = names
    else:
        try:
            chosen = parse_selector(selector or "")
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--selector") from error
        spec["nodeSelector"] = chosen.model_dump(mode="json", by_alias=True, exclude_none=True)
    body: dict[str, Any] = {"spec": spec}
    if name:
        body["metadata"] = {"name": name}
    auth = find_token(token, data_dir)
    bench = call(server, "POST", "/api/v1/benchmarks", body=body, token=auth)
    bench_name = bench["metadata"]["name"]
    if not wait:
        if output == "json":
            _echo_json(bench)
        else:
            click.echo(f"benchmark {bench_name} created (`obt bench get {bench_name}`)")
        return
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        bench = call(server, "GET", f"/api/v1/benchmarks/{_q(bench_name)}", token=auth)
        line = progress_line(bench)
        if line != last:
            click.echo(line, err=True)
            last = line
        if (bench.get("status") or {}).get("phase") in TERMINAL:
            break
        if time.monotonic() > deadline:
            for problem in problems(bench):
                click.echo(problem, err=True)
            raise CallFailed(f"benchmark {bench_name}: not done after {timeout:.0f}s ({line})")
        time.sleep(1.0)
    results = results_of(server, bench_name, bench, auth)
    if output == "json":
        _echo_json({"benchmark": bench, "results": results})
    elif results:
        click.echo(result_table(results))
    for problem in problems(bench):
        click.echo(problem, err=True)
    if bench["status"]["phase"] != "Succeeded":
        sys.exit(EXIT_ERROR)


@command.command(name="results", epilog=EXIT_CODES_HELP)
@click.option("--model", metavar="MODEL", help="Only this model ('llama3.2' = ':latest').")
@click.option("--node", metavar="NODE", help="Only this node.")
@click.option("--benchmark", metavar="NAME", help="Only this benchmark's results.")
@click.option("--since", metavar="TIME", help="Measured at or after (2026-12-03T10:00:00Z).")
@api_options
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table, json (the API's objects) or csv (the API's export).",
)
def results_command(
    model: str | None,
    node: str | None,
    benchmark: str | None,
    since: str | None,
    server: str,
    token: str | None,
    data_dir: Path | None,
    output: str,
) -> None:
    """Stored results, newest first (kept after their benchmarks are deleted)."""
    params: list[tuple[str, str]] = []
    for key, value in (("model", model), ("node", node), ("benchmark", benchmark)):
        if value:
            params.append((key, normalize_model_name(value) if key == "model" else value))
    if since:
        params.append(("since", since))
    auth = find_token(token, data_dir)
    if output == "csv":
        text = call(
            server,
            "GET",
            "/api/v1/benchmark-results",
            params=[*params, ("format", "csv")],
            token=auth,
            raw=True,
        )
        click.echo(text, nl=False)
        return
    items = fetch_all(server, "/api/v1/benchmark-results", params, auth)
    if output == "json":
        _echo_json(items)
    elif items:
        rows = [
            [*row, age(item["measuredAt"])]
            for row, item in zip(result_rows(items, keep_order=True), items, strict=True)
        ]
        click.echo(render_table([*RESULT_COLUMNS, "AGE"], rows))
    else:
        click.echo("No results found.", err=True)


@command.command(name="compare", epilog=EXIT_CODES_HELP)
@click.option("--model", metavar="MODEL", help="Only this model.")
@api_options
@OUTPUT
def compare_command(
    model: str | None, server: str, token: str | None, data_dir: Path | None, output: str
) -> None:
    """Models x nodes: tg tokens/s ± stddev of the latest comparable results (same model
    digest, Ollama version, options and prompts), and the best machine for each model.
    A split (GPU + system RAM) or CPU-only run is marked next to its figure."""
    params = [("model", normalize_model_name(model))] if model else []
    matrix = call(
        server,
        "GET",
        "/api/v1/benchmark-results/compare",
        params=params,
        token=find_token(token, data_dir),
    )
    if output == "json":
        _echo_json(matrix)
        return
    if not matrix["rows"]:
        click.echo("No results found.", err=True)
        return
    nodes = matrix["nodes"]
    rows = []
    for row in matrix["rows"]:
        cells = {c["node"]: c for c in row["cells"]}
        line = [row["model"]]
        for node in nodes:
            c = cells.get(node)
            mark = "" if c is None or c["placement"] == "gpu" else f" ({c['placement']})"
            line.append(f"{_num(c['tgMean'])} ± {_num(c['tgStddev'])}{mark}" if c else "")
        best = row.get("best")
        if best:
            text = f"{best['node']} ({best['label']})"
            if best.get("bestFullGpu"):
                text += f"; full GPU: {best['bestFullGpu']}"
            line.append(text)
        else:
            line.append("")
        rows.append(line)
    click.echo("tg tokens/s (mean ± stddev), latest comparable result per node")
    click.echo(render_table(["MODEL", *(n.upper() for n in nodes), "BEST"], rows))


@command.command(name="list", epilog=EXIT_CODES_HELP)
@api_options
@OUTPUT
def list_command(server: str, token: str | None, data_dir: Path | None, output: str) -> None:
    """Benchmarks, newest first, with their progress."""
    items = fetch_all(server, "/api/v1/benchmarks", [], find_token(token, data_dir))
    if output == "json":
        _echo_json(items)
        return
    if not items:
        click.echo("No benchmarks found.", err=True)
        return
    rows = []
    for b in items:
        s = b.get("status") or {}
        rows.append(
            [
                b["metadata"]["name"],
                s.get("phase", "Pending"),
                f"{s.get('done', 0)}/{s.get('selected', 0)}",
                str(s.get("ran", 0)),
                str(s.get("reused", 0)),
                str(s.get("skipped", 0)),
                str(s.get("failed", 0)),
                age(b["metadata"].get("creationTimestamp")),
            ]
        )
    click.echo(
        render_table(["NAME", "PHASE", "DONE", "RAN", "REUSED", "SKIPPED", "FAILED", "AGE"], rows)
    )


@command.command(name="get", epilog=EXIT_CODES_HELP)
@click.argument("name")
@api_options
@OUTPUT
def get_command(
    name: str, server: str, token: str | None, data_dir: Path | None, output: str
) -> None:
    """One benchmark: its progress, each node+model's outcome, and its results."""
    auth = find_token(token, data_dir)
    bench = call(server, "GET", f"/api/v1/benchmarks/{_q(name)}", token=auth)
    results = results_of(server, name, bench, auth)
    if output == "json":
        _echo_json({"benchmark": bench, "results": results})
        return
    click.echo(progress_line(bench))
    pairs = (bench.get("status") or {}).get("nodes") or []
    if pairs:
        click.echo(
            render_table(
                ["NODE", "MODEL", "PHASE", "REASON", "MESSAGE"],
                [
                    [
                        p["node"],
                        p["model"],
                        p["phase"],
                        p.get("reason") or "",
                        p.get("message") or "",
                    ]
                    for p in pairs
                ],
            )
        )
    if results:
        click.echo("")
        click.echo(result_table(results))


@command.command(name="cancel", epilog=EXIT_CODES_HELP)
@click.argument("name")
@api_options
def cancel_command(name: str, server: str, token: str | None, data_dir: Path | None) -> None:
    """Cancel a benchmark: pairs not yet measured end Cancelled; results stay."""
    call(server, "POST", f"/api/v1/benchmarks/{_q(name)}/cancel", token=find_token(token, data_dir))
    click.echo(f"benchmark {name} cancelled")
