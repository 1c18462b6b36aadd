"""`obt models pull|rm|load|unload`: act on models across the fleet through an OllamaTask
(`POST /api/v1/tasks`), and `obt models [list] [NAME]`, the catalogue (obt.cli.fleet).

The task is checked here first with the contract's own model (obt.core.models.actions), so a
malformed model name, selector or keep-alive is refused before anything reaches the server; what
only the server can judge (a selector that picks no node) comes back as its 422, naming the field.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from obt.cli.client import EXIT_CODES_HELP, api_options, call, find_token
from obt.cli.fleet import models_command
from obt.cli.follow import (
    EXIT_INTERRUPTED,
    EXIT_TASK_FAILED,
    EXIT_WAIT_TIMEOUT,
    WaitTimeout,
    follow,
    make_display,
    node_rows,
    summary,
)
from obt.cli.objects import output_option
from obt.core.models.actions import LabelSelector, OllamaTask, OllamaTaskSpec, check_model_name
from obt.core.selectors import parse_selector

ACTION_EXIT_CODES_HELP = (
    EXIT_CODES_HELP + "\n"
    f"  {EXIT_TASK_FAILED}  --wait: the task finished Failed or Cancelled (each failed node is named)\n"
    f"  {EXIT_WAIT_TIMEOUT}  --wait --timeout: still running when the time was up (it carries on)\n"
    f"  {EXIT_INTERRUPTED}  --wait: Ctrl-C; the task carries on"
)


class ModelsGroup(click.Group):
    """`obt models` keeps its old forms: `obt models`, `obt models NAME`, `obt models -o wide`
    mean `obt models list ...`; `obt models pull ...` and the other actions are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(name="models", cls=ModelsGroup, epilog=ACTION_EXIT_CODES_HELP)
def models_group() -> None:
    """List the fleet's models, or pull, remove, load and unload them on chosen nodes.

    \b
    obt models                                   the catalogue (obt models list)
    obt models llama3.2                          one model: its nodes and its placement
    obt models pull llama3.2 --nodes a,b --wait  pull on a and b, with progress
    obt models load qwen2.5:7b -l gpu=h100 --keep-alive -1
    obt models unload llama3.2 --all-nodes --evict
    obt models rm llama3.2 --nodes a

    Each action creates an OllamaTask (`obt task list` / `get` / `cancel`), needs the operator
    role, and without --wait returns at once with the task's name.
    """


models_group.add_command(models_command, name="list")


def _split_nodes(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise click.BadParameter(
            f"{text!r} has an empty node name (comma-separated names: a,b)", param_hint="--nodes"
        )
    return list(dict.fromkeys(names))


def _selector(text: str) -> LabelSelector:
    if not text.strip():
        raise click.BadParameter(
            "empty; give labels (k=v,k2 in (a,b),!spot) or --all-nodes for every node",
            param_hint="--selector",
        )
    try:
        return parse_selector(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--selector") from error


# A field of OllamaTaskSpec -> the option that sets it, to name in an error.
OPTION_OF_FIELD = {
    "models": "MODEL",
    "nodes": "--nodes",
    "nodeSelector": "--selector",
    "keepAlive": "--keep-alive",
    "maxConcurrent": "--max-concurrent",
    "ttlSecondsAfterFinished": "--ttl",
}


def _field_errors(error: ValidationError) -> str:
    problems = []
    for e in error.errors():
        loc = [str(p) for p in e["loc"]]
        where = OPTION_OF_FIELD.get(loc[0], ".".join(loc)) if loc else "the task"
        if loc and loc[0] in ("models", "nodeSelector") and len(loc) > 1:
            where += f" ({'.'.join(loc)})"
        problems.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def build_task(
    action: str,
    models: tuple[str, ...],
    *,
    nodes: str | None,
    selector: str | None,
    all_nodes: bool,
    keep_alive: str | None,
    max_concurrent: int | None,
    evict: bool,
    ttl: int | None,
) -> dict[str, Any]:
    """The POST /api/v1/tasks body, checked with the contract's models; click errors naming the
    option that is wrong."""
    verb = "rm" if action == "delete" else action
    targets = [
        o for o, given in (("--nodes", nodes), ("--selector", selector)) if given is not None
    ]
    if all_nodes:
        targets.append("--all-nodes")
    if len(targets) > 1:
        raise click.UsageError(f"{' and '.join(targets)}: give one of them, not several")
    if not targets:
        raise click.UsageError(
            "say where: --nodes a,b (names), --selector 'k=v,...' (labels) or --all-nodes"
        )
    if keep_alive is not None and action != "load":
        raise click.UsageError(f"--keep-alive applies to `obt models load`, not `{verb}`")
    if evict and action not in ("delete", "unload"):
        raise click.UsageError(f"--evict applies to `obt models rm` and `unload`, not `{verb}`")
    refs = []
    for model in models:
        try:
            refs.append({"name": check_model_name(model)})
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="MODEL") from error
    spec: dict[str, Any] = {"action": action, "models": refs}
    if nodes is not None:
        spec["nodes"] = _split_nodes(nodes)
    elif selector is not None:
        spec["nodeSelector"] = _selector(selector).to_wire()
    else:
        spec["nodeSelector"] = {}
    for key, value in (
        ("keepAlive", keep_alive),
        ("maxConcurrent", max_concurrent),
        ("ttlSecondsAfterFinished", ttl),
    ):
        if value is not None:
            spec[key] = value
    if evict:
        spec["evict"] = True
    try:
        OllamaTaskSpec.model_validate(spec)
    except ValidationError as error:
        raise click.UsageError(_field_errors(error)) from error
    return {"apiVersion": "obt.dev/v1alpha1", "kind": "OllamaTask", "spec": spec}


def report_finished(task: OllamaTask, output: str, raw: dict[str, Any]) -> int:
    """Print the outcome (failures to stderr, naming each node); the exit code."""
    failures = [r for r in node_rows(task) if r.phase == "Failed"]
    if output == "json":
        click.echo(json.dumps(raw, indent=2, sort_keys=True))
    click.echo(summary(task), err=output == "json")
    for row in failures:
        click.echo(row.failure(), err=True)
    hidden = task.status.failed - len(failures)
    if hidden > 0:
        click.echo(
            f"... and {hidden} more failed node(s): obt task get {task.metadata.name}", err=True
        )
    return 0 if task.status.phase == "Succeeded" else EXIT_TASK_FAILED


def run_action(
    action: str,
    models: tuple[str, ...],
    *,
    server: str,
    token: str | None,
    data_dir: Path | None,
    output: str,
    wait: bool,
    timeout: float | None,
    **target: Any,
) -> None:
    if timeout is not None and not wait:
        raise click.UsageError("--timeout limits --wait; add --wait")
    body = build_task(action, models, **target)
    auth = find_token(token, data_dir)
    created = call(server, "POST", "/api/v1/tasks", body=body, token=auth)
    name = created["metadata"]["name"]
    if not wait:
        if output == "json":
            click.echo(json.dumps(created, indent=2, sort_keys=True))
            return
        click.echo(f"task {name} created")
        click.echo(f"  follow:  obt task get {name}   (or add --wait next time)")
        click.echo(f"  cancel:  obt task cancel {name}")
        return
    stream = sys.stderr if output == "json" else sys.stdout
    display = make_display(stream, action)
    try:
        task, raw = follow(server, name, auth, display, timeout=timeout)
    except KeyboardInterrupt:
        click.echo(
            f"\nstopped waiting; task {name} keeps running. Follow it with `obt task get {name}`, "
            f"stop it with `obt task cancel {name}`.",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    except WaitTimeout as late:
        click.echo(
            f"{summary(late.task)}\n--timeout {timeout:g} s passed; task {name} keeps running. "
            f"Follow it with `obt task get {name}`, stop it with `obt task cancel {name}`.",
            err=True,
        )
        sys.exit(EXIT_WAIT_TIMEOUT)
    code = report_finished(task, output, raw)
    if code:
        sys.exit(code)


def _action_command(action: str, verb: str, help_text: str) -> click.Command:
    @click.command(name=verb, help=help_text, epilog=ACTION_EXIT_CODES_HELP)
    @click.argument("models", metavar="MODEL...", nargs=-1, required=True)
    @click.option("--nodes", metavar="A,B", help="Act on these nodes (comma-separated names).")
    @click.option(
        "-l",
        "--selector",
        metavar="SELECTOR",
        help="Act on the nodes these labels pick: 'gpu=h100,zone in (a,b),!spot'.",
    )
    @click.option("--all-nodes", is_flag=True, help="Act on every node.")
    @click.option(
        "--max-concurrent",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="At most N nodes work at once (default: all at once).",
    )
    @click.option(
        "--ttl",
        type=click.IntRange(min=0),
        default=None,
        metavar="SECONDS",
        help="Delete the task this long after it finished (default: keep it).",
    )
    @click.option("--wait", is_flag=True, help="Show progress per node until the task finishes.")
    @click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="SECONDS",
        help="With --wait: stop waiting after this long (the task carries on).",
    )
    @output_option(["table", "json"], "json: the task object (progress then goes to stderr).")
    @api_options
    def command(models: tuple[str, ...], **options: Any) -> None:
        run_action(
            action,
            models,
            keep_alive=options.pop("keep_alive", None),
            evict=options.pop("evict", False),
            **options,
        )

    if action == "load":
        command = click.option(
            "--keep-alive",
            metavar="DURATION",
            default=None,
            help="How long Ollama keeps it loaded: '5m', '1h', '-1' (for ever). "
            "Default: Ollama's own (5m).",
        )(command)
    if action in ("delete", "unload"):
        command = click.option(
            "--evict",
            is_flag=True,
            help="Also where someone else loaded the model (otherwise such nodes are skipped, "
            "reason Busy).",
        )(command)
    return command


ACTIONS = (
    (
        "pull",
        "pull",
        "Pull MODEL... onto the chosen nodes (an interrupted pull resumes where it stopped).",
        "obt models pull llama3.2 qwen2.5:7b --nodes a,b --wait",
    ),
    (
        "delete",
        "rm",
        "Remove MODEL... from the chosen nodes. Where someone else loaded the model, the node "
        "is skipped (reason Busy) unless --evict.",
        "obt models rm llama3.2 --nodes a",
    ),
    (
        "load",
        "load",
        "Load MODEL... into memory on the chosen nodes (an empty generate with keep_alive).",
        "obt models load llama3.2 -l gpu=h100 --keep-alive 1h --wait",
    ),
    (
        "unload",
        "unload",
        "Unload MODEL... from memory on the chosen nodes (keep_alive 0). Where someone else "
        "loaded the model, the node is skipped (reason Busy) unless --evict.",
        "obt models unload llama3.2 --all-nodes --evict",
    ),
)
for _action, _verb, _help, _example in ACTIONS:
    models_group.add_command(
        _action_command(
            _action,
            _verb,
            f"{_help}\n\n\b\n{_example}\n\nThe action runs as an OllamaTask (`obt task get NAME`); "
            "it needs the operator role.",
        )
    )
