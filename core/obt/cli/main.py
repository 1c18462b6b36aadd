"""The `obt` command. Subcommands are imported only when used, so that `obt agent` on a host with
only the `agent` extra installed (`pip install '<obt-fleet wheel>[agent]'`) never imports
FastAPI, SQLAlchemy or kopf."""

from __future__ import annotations

import importlib
from typing import Any

import click

from obt.core.version import __version__

# name -> "module:attribute" of a click command; each component owns its own.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "obt.cli.serve:command",
        "Run the embedded default: API + dashboard + local agent on SQLite.",
    ),
    "agent": ("obt.agent.cli:command", "Detect this machine's hardware and Ollama, and report it."),
    "operator": (
        "obt.operator.cli:command",
        "Run the Kubernetes operator (liveness, conditions, cleanup).",
    ),
    "api": (
        "obt.api.cli:command",
        "Run the API server (cluster mode: mirror OllamaNodes into SQL).",
    ),
    "nodes": (
        "obt.cli.fleet:nodes_command",
        "List the fleet's nodes, or show one (like kubectl get).",
    ),
    "models": (
        "obt.cli.operations:models_group",
        "List the fleet's models; pull, remove, load and unload them on chosen nodes.",
    ),
    "task": (
        "obt.cli.task:command",
        "List, show, cancel and delete model tasks (what `obt models pull` and the rest create).",
    ),
    "modelset": (
        "obt.cli.modelset:command",
        "Apply, list, show and delete model sets: models kept on the nodes a selector picks.",
    ),
    "bench": (
        "obt.cli.bench:command",
        "Benchmark models on the fleet; results, compare machines, export.",
    ),
    "token": (
        "obt.cli.token:command",
        "Create, list and revoke API tokens (viewer, operator, admin) for people and scripts.",
    ),
    "enroll-token": (
        "obt.cli.enroll_token:command",
        "Create, list and revoke enrollment tokens for new hosts.",
    ),
    "node": (
        "obt.cli.node:command",
        "Decommission a standalone host; list and revoke node tokens.",
    ),
    "crd": ("obt.cli.crd:command", "Print the OllamaNode CustomResourceDefinition as YAML."),
    "version": ("obt.cli.version:command", "Print the OBT version."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        target, _ = SUBCOMMANDS[cmd_name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            return _missing_extra(cmd_name, exc)
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table above, without importing every component for `obt --help`.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, help_) in SUBCOMMANDS.items()])


def _missing_extra(name: str, exc: ImportError) -> click.Command:
    extra = "agent" if name == "agent" else "server"

    @click.command(name=name, help=SUBCOMMANDS[name][1])
    def unavailable(**_: Any) -> None:
        raise click.ClickException(
            f"`obt {name}` needs packages that are not installed ({exc.name or exc}). "
            f"Install OBT with the '{extra}' extra: pip install "
            f"'obt_fleet-{__version__}-py3-none-any.whl[{extra}]' (the wheel `make dist` builds), "
            f"or pip install '.[{extra}]' in a checkout"
        )

    return unavailable


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="obt")
def main() -> None:
    """OBT: one live view of every machine that runs Ollama.

    Start with `obt serve` on one machine (`--host 0.0.0.0` to let other hosts in), create an
    enrollment token there with `obt enroll-token create`, then join each other host with
    `obt agent --server URL --enroll-token TOKEN`. On Kubernetes, install the Helm chart.
    """
