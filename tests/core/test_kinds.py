"""Kinds are declared in obt.core.kinds: a new one is a declaration plus one registry line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from pydantic import Field

from obt.cli.main import main
from obt.core import kinds, names
from obt.core.crd import build_crd
from obt.core.kinds import Kind
from obt.core.models import ContractModel, ObjectMeta, OllamaNode


class WidgetSpec(ContractModel):
    """A throw-away kind's spec."""

    size: int = Field(..., description="How big the widget is.")


class WidgetStatus(ContractModel):
    """A throw-away kind's status."""

    colour: str | None = Field(None, description="What colour the widget turned.")


class Widget(ContractModel):
    metadata: ObjectMeta
    spec: WidgetSpec
    status: WidgetStatus = Field(default_factory=WidgetStatus)


WIDGET_COLUMNS = (
    {"name": "Size", "type": "integer", "jsonPath": ".spec.size", "description": "Widget size."},
    {
        "name": "Colour",
        "type": "string",
        "jsonPath": ".status.colour",
        "priority": 1,
        "description": "Widget colour.",
    },
)

WIDGET = Kind(
    kind="Widget",
    plural="widgets",
    singular="widget",
    short_names=("wdg",),
    scope="Namespaced",
    printer_columns=WIDGET_COLUMNS,
    description="A throw-away kind declared by a test.",
    model=Widget,
    spec=WidgetSpec,
    status=WidgetStatus,
)


@pytest.fixture
def widget_registered() -> Iterator[None]:
    saved = list(kinds.KINDS)
    kinds.KINDS.append(WIDGET)
    try:
        yield
    finally:
        kinds.KINDS[:] = saved


def crds(text: str) -> dict[str, dict[str, object]]:
    return {doc["spec"]["names"]["kind"]: doc for doc in yaml.safe_load_all(text)}


def test_a_kind_added_to_the_registry_appears_in_obt_crd_with_its_columns(
    widget_registered: None,
) -> None:
    result = CliRunner().invoke(main, ["crd"])
    assert result.exit_code == 0, result.output
    printed = crds(result.output)
    assert set(printed) == {k.kind for k in kinds.KINDS}
    assert {"OllamaNode", "Widget"} <= set(printed)
    widget = printed["Widget"]
    assert widget["metadata"]["name"] == "widgets.obt.dev"  # type: ignore[index]
    spec = widget["spec"]
    assert spec["scope"] == "Namespaced"  # type: ignore[index]
    assert spec["names"] == {  # type: ignore[index]
        "kind": "Widget",
        "listKind": "WidgetList",
        "plural": "widgets",
        "singular": "widget",
        "shortNames": ["wdg"],
        "categories": ["obt"],
    }
    version = spec["versions"][0]  # type: ignore[index]
    assert version["additionalPrinterColumns"] == list(WIDGET_COLUMNS)
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["description"] == "A throw-away kind declared by a test."
    assert schema["properties"]["spec"]["properties"]["size"] == {
        "type": "integer",
        "description": "How big the widget is.",
    }
    kubernetes_validate.validate(widget, "1.32", strict=True)
    # The OllamaNode document is unchanged by the addition.
    assert printed["OllamaNode"] == build_crd()


@pytest.mark.parametrize("name", ["Widget", "widgets", "widget", "WDG"])
def test_obt_crd_kind_prints_only_that_kind(widget_registered: None, name: str) -> None:
    result = CliRunner().invoke(main, ["crd", name])
    assert result.exit_code == 0, result.output
    assert list(crds(result.output)) == ["Widget"]


def test_the_registry_is_restored_after_the_test() -> None:
    assert WIDGET not in kinds.KINDS
    assert [k.kind for k in kinds.all_kinds()] == [
        "OllamaNode",
        "OllamaTask",
        "OllamaModelSet",
        "OllamaBenchmark",
        "OllamaBenchmarkResult",
    ]


@pytest.mark.parametrize("name", ["OllamaNode", "ollamanodes", "ollamanode", "onode"])
def test_obt_crd_finds_ollamanode_by_any_name(name: str) -> None:
    result = CliRunner().invoke(main, ["crd", name])
    assert result.exit_code == 0, result.output
    assert list(crds(result.output)) == ["OllamaNode"]


def test_obt_crd_with_an_unknown_kind_lists_the_known_ones() -> None:
    result = CliRunner().invoke(main, ["crd", "gadget"])
    assert result.exit_code == 2
    assert "unknown kind 'gadget'" in result.output
    assert "known kinds: OllamaNode (also ollamanodes, onode)" in result.output


def test_obt_crd_dir_writes_one_file_per_kind(widget_registered: None, tmp_path: Path) -> None:
    out = tmp_path / "crds"
    result = CliRunner().invoke(main, ["crd", "--dir", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "ollamabenchmark.yaml",
        "ollamabenchmarkresult.yaml",
        "ollamamodelset.yaml",
        "ollamanode.yaml",
        "ollamatask.yaml",
        "widget.yaml",
    ]
    assert list(crds((out / "widget.yaml").read_text())) == ["Widget"]


def test_ollamanode_kind_uses_the_shared_names() -> None:
    node = kinds.find("onode")
    assert (node.group, node.version, node.plural) == (
        names.GROUP,
        names.VERSION,
        names.OLLAMANODES,
    )
    assert node.model is OllamaNode
    assert node.api_version == names.API_VERSION == OllamaNode.model_fields["api_version"].default
