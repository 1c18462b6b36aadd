"""`obt task`: the OllamaTasks that `obt models pull|rm|load|unload` (or the dashboard, or
kubectl) created: list them, see one node by node, cancel or delete one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from obt.cli.client import EXIT_CODES_HELP, api_options, find_token
from obt.cli.fleet import NONE, age, render_table
from obt.cli.follow import node_rows, progress_text
from obt.cli.objects import Resource, conditions_lines, describe, output_option
from obt.core.kinds.ollamatask import PRINTER_COLUMNS
from obt.core.models.actions import TASK_PHASES, OllamaTask
from obt.core.selectors import format_selector

TASKS = Resource(noun="task", command="task", route="/api/v1/tasks", columns=PRINTER_COLUMNS)


@click.group(name="task")
def command() -> None:
    """OllamaTasks: one model action on chosen nodes (`obt models pull|rm|load|unload`).

    \b
      obt task list                    every task: action, models, nodes, done, failed, phase
      obt task list --phase Failed     the ones that failed
      obt task get NAME                one task, node by node, with Ollama's error text
      obt task cancel NAME             stop it: work in flight stops, nothing new starts
      obt task delete NAME             remove it (a running one stops too)
    Reading needs the viewer role; cancel and delete the operator role.
    """


@command.command(name="list", epilog=EXIT_CODES_HELP)
@api_options
@output_option(["table", "json"], "json: the API's task objects.")
@click.option(
    "--phase",
    type=click.Choice(TASK_PHASES),
    multiple=True,
    help="Only tasks in this phase (repeat for any of several).",
)
def list_tasks(
    server: str, token: str | None, data_dir: Path | None, output: str, phase: tuple[str, ...]
) -> None:
    """List the tasks (newest first), like `kubectl get otask`."""
    items = TASKS.fetch(server, find_token(token, data_dir), [("phase", p) for p in phase])
    TASKS.echo_list(items, output)


def describe_task(raw: dict[str, Any]) -> str:
    task = OllamaTask.model_validate(raw)
    spec, status = task.spec, task.status
    where = (
        ",".join(spec.nodes)
        if spec.nodes is not None
        else f"selector {format_selector(spec.node_selector) or '(every node)'}"
    )
    rows: list[tuple[str, str]] = [
        ("Name", task.metadata.name),
        ("Action", spec.action),
        (
            "Models",
            ", ".join(m.name + (f"@{m.digest[:12]}" if m.digest else "") for m in spec.models),
        ),
        ("Nodes", where),
    ]
    if spec.max_concurrent:
        rows.append(("Max concurrent", str(spec.max_concurrent)))
    if spec.keep_alive is not None:
        rows.append(("Keep alive", spec.keep_alive))
    if spec.evict:
        rows.append(("Evict", "yes"))
    if spec.cancel:
        rows.append(("Cancel", "requested"))
    rows += [
        ("Phase", status.phase),
        (
            "Counts",
            f"{status.selected} selected: {status.succeeded} succeeded, {status.failed} failed, "
            f"{status.running} running, {status.pending} pending",
        ),
        ("Started", status.start_time.isoformat() if status.start_time else NONE),
        ("Completed", status.completion_time.isoformat() if status.completion_time else NONE),
        ("Age", age((raw.get("metadata") or {}).get("creationTimestamp"))),
        *conditions_lines(raw.get("status") or {}),
    ]
    text = describe(rows)
    outcomes = node_rows(task)
    if outcomes:
        table = render_table(
            ["NODE", "PHASE", "MODEL", "PROGRESS", "REASON", "MESSAGE"],
            [
                [r.node, r.phase, r.model or "", progress_text(r), r.reason or "", r.message]
                for r in outcomes
            ],
        )
        text += "\n" + "\n".join("  " + line for line in table.splitlines())
    hidden = status.selected - len(outcomes)
    if hidden > 0:
        text += f"\n  ({hidden} more node(s) not listed: a status keeps 100, failures first)"
    return text


TASKS.add_get(
    command,
    describe_task,
    "Show task NAME: what it does where, and how each node fared (failures first).",
)
TASKS.add_delete(
    command, "Delete task NAME (a running one stops on every node first).", "task {name} deleted"
)


@command.command(name="cancel", epilog=EXIT_CODES_HELP)
@click.argument("name")
@api_options
def cancel_task(name: str, server: str, token: str | None, data_dir: Path | None) -> None:
    """Cancel task NAME: pulls in flight stop on every node, nothing new starts, and its phase
    becomes Cancelled (what is already done stays done). The task is kept: `obt task get`."""
    TASKS.call(server, "POST", name, find_token(token, data_dir), "/cancel")
    click.echo(f"task {name} cancelled (see `obt task get {name}`)")
