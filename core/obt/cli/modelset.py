"""`obt modelset`: the models kept present (optionally loaded) on the nodes a selector picks.

`obt modelset apply -f FILE` takes the file `kubectl apply -f` takes (apiVersion obt.dev/v1alpha1,
kind OllamaModelSet; YAML or JSON, one document or several) and creates or replaces each set by
name through the API, so it works against `obt serve` (no cluster) as well.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError

from obt.cli.client import EXIT_CODES_HELP, NotFound, api_options, call, find_token
from obt.cli.fleet import render_table
from obt.cli.follow import human_bytes
from obt.cli.objects import Resource, conditions_lines, describe, output_option
from obt.core.kinds.ollamamodelset import PRINTER_COLUMNS
from obt.core.models.actions import OllamaModelSet, OllamaModelSetSpec
from obt.core.selectors import format_selector

API_VERSION = "obt.dev/v1alpha1"
# A Kubernetes object name (DNS-1123 subdomain), as the API and the API server take it.
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
KIND = "OllamaModelSet"


SETS = Resource(
    noun="model set", command="modelset", route="/api/v1/modelsets", columns=PRINTER_COLUMNS
)


@click.group(name="modelset")
def command() -> None:
    """OllamaModelSets: models every selected node keeps (like a DaemonSet for models).

    \b
      obt modelset apply -f sets.yaml    create or replace each set the file declares
      obt modelset list                  models, selected, ready, pulling, failed nodes
      obt modelset get NAME              one set, with the nodes that are not Ready and why
      obt modelset delete NAME           stop keeping them (installed models stay)
    Reading needs the viewer role; apply and delete the operator role.
    """


def _documents(source: str, text: str) -> list[tuple[str, Any]]:
    """(where, document) for every document of a YAML or JSON file; `kind: List` unpacked."""
    try:
        loaded = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise click.BadParameter(f"{source}: not YAML or JSON: {error}", param_hint="-f") from error
    out: list[tuple[str, Any]] = []
    for number, doc in enumerate(loaded, 1):
        where = source if len(loaded) == 1 else f"{source} (document {number})"
        if isinstance(doc, list) or (isinstance(doc, dict) and doc.get("kind") == "List"):
            items = doc if isinstance(doc, list) else doc.get("items") or []
            out += [(f"{where} item {i}", item) for i, item in enumerate(items, 1)]
        else:
            out.append((where, doc))
    if not out:
        raise click.BadParameter(f"{source}: no document in it", param_hint="-f")
    return out


def parse_modelsets(source: str, text: str) -> list[OllamaModelSet]:
    """Every OllamaModelSet of a file, checked with the contract's model; a click error naming
    the document and the field that is wrong."""
    sets: list[OllamaModelSet] = []
    for where, doc in _documents(source, text):
        if not isinstance(doc, dict):
            raise click.BadParameter(f"{where}: not an object", param_hint="-f")
        if doc.get("kind") != KIND or doc.get("apiVersion") != API_VERSION:
            raise click.BadParameter(
                f"{where}: apiVersion {doc.get('apiVersion')!r}, kind {doc.get('kind')!r}: "
                f"`obt modelset apply` takes apiVersion {API_VERSION}, kind {KIND}"
                + (
                    " (create tasks with `obt models pull|rm|load|unload`)"
                    if doc.get("kind") == "OllamaTask"
                    else ""
                ),
                param_hint="-f",
            )
        try:
            mset = OllamaModelSet.model_validate(doc)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                for e in error.errors()
            )
            raise click.BadParameter(f"{where}: {problems}", param_hint="-f") from error
        if len(mset.metadata.name) > 253 or not NAME_RE.match(mset.metadata.name):
            raise click.BadParameter(
                f"{where}: metadata.name {mset.metadata.name!r} is not a Kubernetes object name "
                "(lower-case letters, digits, '-' and '.', starting and ending with a letter "
                "or digit)",
                param_hint="-f",
            )
        if mset.metadata.name in {s.metadata.name for s in sets}:
            raise click.BadParameter(
                f"{where}: a second set named {mset.metadata.name!r}", param_hint="-f"
            )
        sets.append(mset)
    return sets


def _body(mset: OllamaModelSet) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": mset.metadata.name}
    if mset.metadata.labels:
        metadata["labels"] = mset.metadata.labels
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": mset.spec.to_wire(),
    }


def apply_one(server: str, token: str | None, mset: OllamaModelSet) -> str:
    """Create or replace one set; 'created', 'configured' or 'unchanged'."""
    name = mset.metadata.name
    body = _body(mset)
    try:
        current = call(server, "GET", SETS.path(name), token=token)
    except NotFound:
        call(server, "POST", "/api/v1/modelsets", body=body, token=token)
        return "created"
    same_spec = (
        OllamaModelSetSpec.model_validate(current.get("spec") or {}).to_wire() == body["spec"]
    )
    meta = current.get("metadata") or {}
    same_meta = (meta.get("labels") or None) == body["metadata"].get("labels")
    if same_spec and same_meta:
        return "unchanged"
    call(server, "PUT", SETS.path(name), body=body, token=token)
    return "configured"


@command.command(name="apply", epilog=EXIT_CODES_HELP)
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    required=True,
    metavar="FILE",
    help="YAML or JSON with one or more OllamaModelSets ('-': standard input). Repeatable.",
)
@api_options
def apply(files: tuple[str, ...], server: str, token: str | None, data_dir: Path | None) -> None:
    """Create or replace (by name) each OllamaModelSet in FILE, the file `kubectl apply -f`
    takes. Every document is checked before any is sent."""
    sets: list[OllamaModelSet] = []
    for source in files:
        if source == "-":
            text = sys.stdin.read()
            source = "<stdin>"
        else:
            try:
                text = Path(source).read_text(encoding="utf-8")
            except OSError as error:
                raise click.BadParameter(
                    f"{source}: cannot read it: {error.strerror}", param_hint="-f"
                ) from error
        sets += parse_modelsets(source, text)
    auth = find_token(token, data_dir)
    for mset in sets:
        click.echo(f"ollamamodelset/{mset.metadata.name} {apply_one(server, auth, mset)}")


@command.command(name="list", epilog=EXIT_CODES_HELP)
@api_options
@output_option(["table", "json"], "json: the API's model set objects.")
def list_sets(server: str, token: str | None, data_dir: Path | None, output: str) -> None:
    """List the model sets, like `kubectl get omset`."""
    SETS.echo_list(SETS.fetch(server, find_token(token, data_dir)), output)


def describe_set(raw: dict[str, Any]) -> str:
    mset = OllamaModelSet.model_validate(raw)
    spec, status = mset.spec, mset.status
    rows: list[tuple[str, str]] = [
        ("Name", mset.metadata.name),
        (
            "Models",
            ", ".join(m.name + (f"@{m.digest[:12]}" if m.digest else "") for m in spec.models),
        ),
        ("Selector", format_selector(spec.node_selector) or "(every node)"),
        ("Keep loaded", "yes" if spec.keep_loaded else "no"),
        ("Max pulls", str(spec.max_concurrent_pulls)),
        ("Prune", "yes" if spec.prune else "no"),
        (
            "Nodes",
            f"{status.selected} selected: {status.ready} ready, {status.pulling} pulling, "
            f"{status.waiting} waiting, {status.failed} failed, {status.drifted} drifted",
        ),
        *conditions_lines(raw.get("status") or {}),
    ]
    text = describe(rows)
    if status.nodes:
        table = render_table(
            ["NODE", "STATE", "MISSING", "DRIFTED", "PROGRESS", "REASON", "MESSAGE"],
            [
                [
                    n.node,
                    n.state,
                    ",".join(n.missing),
                    ",".join(n.drifted),
                    f"{human_bytes(n.completed_bytes or 0)}/{human_bytes(n.total_bytes)}"
                    if n.total_bytes
                    else "",
                    n.reason or "",
                    n.message,
                ]
                for n in status.nodes
            ],
        )
        text += "\n" + "\n".join("  " + line for line in table.splitlines())
    return text


SETS.add_get(
    command,
    describe_set,
    "Show model set NAME: its models, selector, counts, and each node that is not Ready.",
)
SETS.add_delete(
    command,
    "Delete model set NAME. The models stay installed where they are; nothing keeps them there "
    "any more (and pulls in flight for it stop).",
    "ollamamodelset/{name} deleted",
)
