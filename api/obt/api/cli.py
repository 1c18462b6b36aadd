"""`obt api` command."""

from __future__ import annotations

import click


@click.command(name="api")
def command() -> None:
    """Not yet available."""
    click.echo("obt api: not yet available.", err=True)
    raise SystemExit(2)
