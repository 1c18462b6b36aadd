"""`obt version`."""

from __future__ import annotations

import click

from obt.core.version import __version__


@click.command(name="version")
def command() -> None:
    """Print the OBT version."""
    click.echo(__version__)
