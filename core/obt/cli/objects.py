"""What `obt task` and `obt modelset` share: list pages, kubectl-style tables from a kind's
printer columns (obt.core.kinds, the same columns `kubectl get otask,omset` prints), and json or
yaml output of the API's objects."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import yaml

from obt.cli.client import EXIT_CODES_HELP, NotFound, api_options, call, find_token
from obt.cli.fleet import age, fetch_all, render_table
from obt.core.kinds.base import PrinterColumn


def jsonpath(obj: Any, path: str) -> Any:
    """The simple JSONPath of a printer column ('.spec.models[*].name', '.status.ready')."""
    values: list[Any] = [obj]
    for segment in path.strip(".").split("."):
        spread = segment.endswith("[*]")
        key = segment.removesuffix("[*]")
        found: list[Any] = []
        for value in values:
            item = value.get(key) if isinstance(value, dict) else None
            if item is None:
                continue
            if spread:
                found.extend(item if isinstance(item, list) else [item])
            else:
                found.append(item)
        values = found
    if "[*]" in path:
        return ",".join(str(v) for v in values)
    return values[0] if values else None


def printer_table(items: Sequence[dict[str, Any]], columns: Sequence[PrinterColumn]) -> str:
    headers = ["NAME", *(c["name"].upper() for c in columns)]
    rows = []
    for item in items:
        row = [(item.get("metadata") or {}).get("name")]
        for column in columns:
            value = jsonpath(item, column["jsonPath"])
            row.append(age(value) if column["type"] == "date" else value)
        rows.append(["" if v is None else str(v) for v in row])
    return render_table(headers, rows)


def echo_object(value: Any, output: str) -> None:
    if output == "yaml":
        click.echo(yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip())
    else:
        click.echo(json.dumps(value, indent=2, sort_keys=True))


def conditions_lines(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"Condition {c.get('type')}",
            f"{c.get('status')} ({c.get('reason') or '-'}) {c.get('message') or ''}".rstrip(),
        )
        for c in status.get("conditions") or []
    ]


def describe(rows: Sequence[tuple[str, str]]) -> str:
    """'Key:   value' lines, kubectl describe style."""
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{(k + ':') if k else '':<{width + 1}}  {v}" for k, v in rows)


def output_option(choices: Sequence[str], help_text: str) -> Callable[[Any], Any]:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(list(choices)),
        default="table",
        show_default=True,
        help=help_text,
    )


@dataclass(frozen=True)
class Resource:
    """One kind as the API serves it (`/api/v1/tasks`) and as its `obt` group names it."""

    noun: str  # "task", "model set"
    command: str  # "task", "modelset": the `obt` group
    route: str  # "/api/v1/tasks"
    columns: Sequence[PrinterColumn]

    def path(self, name: str) -> str:
        return f"{self.route}/{quote(name, safe='')}"

    def call(self, server: str, method: str, name: str, token: str | None, suffix: str = "") -> Any:
        """One call about object NAME; a 404 says which object is missing, and where."""
        try:
            return call(server, method, self.path(name) + suffix, token=token)
        except NotFound as error:
            raise NotFound(
                f"{self.noun} {name!r} not found at {server} (see `obt {self.command} list`)", 404
            ) from error

    def fetch(
        self, server: str, token: str | None, params: Sequence[tuple[str, str]] = ()
    ) -> list[dict[str, Any]]:
        return fetch_all(server, self.route, list(params), token)

    def echo_list(self, items: list[dict[str, Any]], output: str) -> None:
        if output == "json":
            echo_object(items, "json")
        elif items:
            click.echo(printer_table(items, self.columns))
        else:
            click.echo(f"No {self.noun}s found.", err=True)

    def add_get(
        self, group: click.Group, describe: Callable[[dict[str, Any]], str], help_text: str
    ) -> None:
        @group.command(name="get", help=help_text, epilog=EXIT_CODES_HELP)
        @click.argument("name")
        @api_options
        @output_option(
            ["table", "json", "yaml"], "table: described; json or yaml: the API's object."
        )
        def get(
            name: str, server: str, token: str | None, data_dir: Path | None, output: str
        ) -> None:
            raw = self.call(server, "GET", name, find_token(token, data_dir))
            if output == "table":
                click.echo(describe(raw))
            else:
                echo_object(raw, output)

    def add_delete(self, group: click.Group, help_text: str, done: str) -> None:
        @group.command(name="delete", help=help_text, epilog=EXIT_CODES_HELP)
        @click.argument("name")
        @api_options
        def delete(name: str, server: str, token: str | None, data_dir: Path | None) -> None:
            self.call(server, "DELETE", name, find_token(token, data_dir))
            click.echo(done.format(name=name))
