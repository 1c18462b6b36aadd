"""`obt node`: decommission standalone hosts and manage their node tokens (admin).

Same server, token and transport as `obt token` (standard library only).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import click

from obt.cli.client import api_options, call, need_token


@click.group(name="node")
def command() -> None:
    """Standalone hosts: decommission one, list or revoke node tokens (the admin role).

    \b
      obt node token list            enrolled hosts and when each was last heard from
      obt node token revoke NAME     its agent gets 401 from now on
      obt node rm NAME               revoke + remove the node (tombstone: Decommissioned)
    """


@command.command(name="rm", short_help="Decommission a standalone host: revoke + remove.")
@click.argument("name")
@api_options
def remove(name: str, server: str, token: str | None, data_dir: Path | None) -> None:
    """Decommission the standalone host NAME: revoke its node token and remove its node,
    leaving a tombstone with reason Decommissioned (in cluster mode its OllamaNode and Lease
    are deleted). A DaemonSet node is refused: drain and delete its Kubernetes Node instead.
    The host's agent logs once that it was revoked; stop or uninstall it there."""
    call(server, "DELETE", f"/api/v1/nodes/{_path(name)}", token=need_token(token, data_dir))
    click.echo(f"decommissioned {name}")


@command.group(name="token")
def token() -> None:
    """Node tokens: the per-host secrets agents got at enrollment."""


@token.command(name="list", short_help="List node tokens (never the secrets).")
@api_options
def list_(server: str, token: str | None, data_dir: Path | None) -> None:
    """List node tokens: node, host id, created, last heartbeat (never the secret)."""
    rows = call(server, "GET", "/api/v1/node-tokens", token=need_token(token, data_dir))
    if not rows:
        click.echo("no node tokens")
        return
    name_width = max(4, *(len(r["nodeName"]) for r in rows))
    host_width = max(7, *(len(r["hostId"]) for r in rows))
    click.echo(
        f"{'NAME':<{name_width}}  {'HOST ID':<{host_width}}  {'CREATED':<25}  LAST HEARTBEAT"
    )
    for row in rows:
        click.echo(
            f"{row['nodeName']:<{name_width}}  {row['hostId']:<{host_width}}  "
            f"{_time(row['createdAt']):<25}  {_time(row.get('lastHeartbeatAt')) or 'never'}"
        )


@token.command(name="revoke", short_help="Revoke the node token of NAME.")
@click.argument("name")
@api_options
def revoke(name: str, server: str, token: str | None, data_dir: Path | None) -> None:
    """Revoke the node token of NAME: its agent's next request is refused (401). The node
    stays listed until the liveness rules remove it; `obt node rm NAME` removes it at once."""
    call(server, "DELETE", f"/api/v1/node-tokens/{_path(name)}", token=need_token(token, data_dir))
    click.echo(f"revoked the node token of {name}")


def _path(name: str) -> str:
    if not name or "/" in name:
        raise click.BadParameter(f"{name!r} is not a node name", param_hint="NAME")
    return quote(name, safe="")


def _time(value: str | None) -> str:
    """ISO time to the second, as UTC: '2026-12-03T16:35:12Z'."""
    if not value:
        return ""
    return value.split(".")[0].removesuffix("+00:00").removesuffix("Z") + "Z"
