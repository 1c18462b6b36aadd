"""`obt crd`: print the generated OllamaNode CRD."""

from __future__ import annotations

from pathlib import Path

import click

from obt.core.crd import render_crd_yaml


@click.command(name="crd")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def command(output: Path | None) -> None:
    """Print the OllamaNode CustomResourceDefinition (YAML), generated from the contract models.

    `crds/ollamanode.yaml` in the repository is this command's output; apply it with
    `kubectl apply -f`.
    """
    text = render_crd_yaml()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
