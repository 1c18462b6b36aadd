"""`obt agent` command."""

from __future__ import annotations

import click


@click.command(name="agent")
def command() -> None:
    """Not yet available."""
    click.echo("obt agent: not yet available.", err=True)
    raise SystemExit(2)
