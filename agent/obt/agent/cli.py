"""`obt agent`: run the agent, or `obt agent detect` to print what it finds."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

from obt.agent.settings import AgentSettings
from obt.core.logging import configure_logging
from obt.core.settings import warn_unknown_variables

# Options whose setting has another name (durations end in _seconds).
OPTION_FIELDS = {"interval": "interval_seconds"}


def _settings(**overrides: Any) -> AgentSettings:
    """Environment first (OBT_AGENT__*), then the options that were given on the command line."""
    try:
        settings = AgentSettings()
    except ValueError as exc:  # a *_FILE that cannot be read, a value that does not parse
        raise click.ClickException(str(exc)) from exc
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("token", "enroll_token"):
            value = SecretStr(value)
        setattr(settings.agent, OPTION_FIELDS.get(key, key), value)
    return settings


@click.group(name="agent", invoke_without_command=True)
@click.option("--server", metavar="URL", help="OBT API to report to (HTTP mode, standalone hosts).")
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file of the private CA that signed the server's certificate (HTTPS).",
)
@click.option("--token", metavar="TOKEN", help="Per-node token the API issued for this host.")
@click.option(
    "--enroll-token",
    metavar="TOKEN",
    help="Enrollment token ('abcdef.0123456789abcdef'): trade it once for a node token, which is "
    "kept in the state file under --data-dir.",
)
@click.option("--host-id", help="Name of this host in the inventory (default: the host name).")
@click.option("--display-name", help="Friendly name shown in the dashboard.")
@click.option(
    "--replace",
    is_flag=True,
    default=None,
    help="At enrollment, take over the node of this host id even if another machine holds it "
    "(a reinstalled or replaced host). Without it that is refused (409).",
)
@click.option(
    "--kubernetes/--no-kubernetes",
    default=None,
    help="Kubernetes (DaemonSet) mode: write this node's OllamaNode directly. Default: on when "
    "running in a pod (KUBERNETES_SERVICE_HOST set) and no --server is given.",
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig outside a pod.")
@click.option("--node-name", help="Kubernetes node name (default: $OBT_NODE_NAME).")
@click.option(
    "--ollama-url", metavar="URL", help="Ollama server [default: http://127.0.0.1:11434]."
)
@click.option(
    "--host-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Root of the host file system for /proc, /sys, /etc reads ('/host' in a pod) [default: /].",
)
@click.option("--interval", type=float, help="Seconds between detection cycles [default: 15].")
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="State directory."
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Serve /healthz, /readyz, /metrics here; 'off' to disable [default: 0.0.0.0:9881 in a "
    "pod, 127.0.0.1:9881 elsewhere].",
)
@click.option(
    "--once",
    is_flag=True,
    help="Detect and report once, then exit (status 1 if the report was not delivered).",
)
@click.pass_context
def command(ctx: click.Context, /, node_name: str | None, once: bool, **options: Any) -> None:
    """Detect this machine's hardware and Ollama server and keep the inventory up to date.

    \b
    In a Kubernetes DaemonSet it writes its node's OllamaNode, only when something changed.
    On a standalone host it reports to the OBT API:
      obt agent --server https://obt.example:8881 --enroll-token abcdef.0123456789abcdef
    If the server revokes this host's token (`obt node rm`, `obt node token revoke`), the agent
    says so once and waits; it enrolls again only with an enrollment token it has not used.
    In both modes it also does what model tasks and model sets ask of this node (pull, delete,
    load, unload against the local Ollama; OBT_AGENT__WORK=false turns that off).
    Every setting can also come from the environment (OBT_AGENT__SERVER, OBT_AGENT__TOKEN, ...;
    see docs/agent.md).
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(**options)
    if node_name:
        settings.node_name = node_name
    configure_logging(settings.log)
    warn_unknown_variables([AgentSettings])
    from obt.agent.runner import run_agent

    try:
        code = asyncio.run(run_agent(settings, once=once))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


@command.command(name="detect")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON (camelCase, as sent)."
)
@click.option(
    "--ollama-url", metavar="URL", help="Ollama server [default: http://127.0.0.1:11434]."
)
@click.option(
    "--host-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Root of the host file system [default: /].",
)
@click.option("--metrics", is_flag=True, help="Print the /metrics samples instead of the report.")
def detect_command(
    as_json: bool, ollama_url: str | None, host_root: Path | None, metrics: bool
) -> None:
    """Detect once and print the report: a table for people, --json for machines."""
    settings = _settings(ollama_url=ollama_url, host_root=host_root)
    configure_logging(settings.log)
    warn_unknown_variables([AgentSettings])
    from obt.agent.runner import make_detector
    from obt.agent.table import render_table

    detector = make_detector(settings, mode=None)
    report = asyncio.run(detector.detect())
    if metrics:
        from obt.agent.metrics import render

        click.echo(render(detector.last_samples), nl=False)
    elif as_json:
        click.echo(json.dumps(report.to_wire(), indent=2, sort_keys=True))
    else:
        click.echo(render_table(report))
