"""`obt operator` command."""

from __future__ import annotations

import click


@click.command(name="operator")
def command() -> None:
    """Not yet available."""
    click.echo("obt operator: not yet available.", err=True)
    raise SystemExit(2)
