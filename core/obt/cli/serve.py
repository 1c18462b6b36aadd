"""`obt serve`: the embedded default (API + dashboard + local agent on SQLite)."""

from __future__ import annotations

import click


@click.command(name="serve")
def command() -> None:
    """Run the API on 127.0.0.1:8881 with SQLite, serve the dashboard and report this machine."""
    click.echo("obt serve: not yet available (the API issue fills it in).", err=True)
    raise SystemExit(2)
