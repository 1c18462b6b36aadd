"""`obt crd [KIND]`: print the generated CustomResourceDefinitions."""

from __future__ import annotations

from pathlib import Path

import click

from obt.core import kinds
from obt.core.crd import render_all_yaml, render_crd_yaml, write_crds


@click.command(name="crd")
@click.argument("kind", required=False)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each kind's CRD to DIR/<singular>.yaml (what `make generate` does).",
)
def command(kind: str | None, output: Path | None, directory: Path | None) -> None:
    """Print the CustomResourceDefinitions (YAML) generated from the contract models.

    Without KIND, every kind's CRD as one multi-document YAML stream; with KIND (a kind, plural,
    singular or short name such as `onode`) only that one. `crds/<singular>.yaml` in the
    repository is this command's output for each kind (`make generate` writes them); apply them
    with `kubectl apply -f`.
    """
    if directory is not None:
        if kind is not None or output is not None:
            raise click.UsageError("--dir writes every kind: give neither KIND nor --output")
        for path in write_crds(directory):
            click.echo(f"wrote {path}")
        return
    if kind is None:
        text = render_all_yaml()
    else:
        try:
            text = render_crd_yaml(kinds.find(kind))
        except kinds.UnknownKindError as err:
            raise click.BadParameter(str(err), param_hint="KIND") from err
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
