"""The OllamaNode CRD is what Kubernetes would accept (its freshness: tests/core/test_generated.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from obt.cli.main import main
from obt.core.crd import PRINTER_COLUMNS, build_crd
from obt.core.models import OllamaNode

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "ollamanode.yaml"
EXAMPLES = sorted((REPO / "crds" / "examples").glob("*.yaml"))
KUBERNETES_VERSION = "1.32"


def _walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path or "<root>", schema)]
    for name, sub in schema.get("properties", {}).items():
        nodes += _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        nodes += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += _walk(schema["additionalProperties"], f"{path}{{}}")
    return nodes


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_obt_crd_command_prints_the_committed_file() -> None:
    result = CliRunner().invoke(main, ["crd", "ollamanode"])
    assert result.exit_code == 0, result.output
    assert result.output == CRD_FILE.read_text(encoding="utf-8")


def test_crd_passes_kubernetes_schema_validation() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    # Raises ValidationError naming the field when the CRD is not a valid apiextensions/v1 object.
    kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)


def test_schema_is_structural() -> None:
    """Rules from the Kubernetes docs on structural schemas: every node typed, no $ref/anyOf."""
    for path, node in _walk(_schema()):
        assert "$ref" not in node, path
        assert "anyOf" not in node and "oneOf" not in node and "allOf" not in node, path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), (
            f"{path} has no type"
        )
        if "properties" in node:
            assert node["type"] == "object", path
        if "items" in node:
            assert node["type"] == "array", path


def test_every_field_has_a_description() -> None:
    schema = _schema()
    for top in ("spec", "status"):
        for path, node in _walk(schema["properties"][top], top):
            if path == top or (path.endswith("[]") and node.get("type") != "object"):
                continue  # list items of a scalar type are described by their list
            assert node.get("description"), f"{path} has no description"


def test_crd_names_and_printer_columns() -> None:
    crd = build_crd()
    names = crd["spec"]["names"]
    assert crd["spec"]["group"] == "obt.dev"
    assert crd["spec"]["scope"] == "Cluster"
    assert names["shortNames"] == ["onode"]
    assert names["categories"] == ["obt"]
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    default_cols = [c["name"] for c in PRINTER_COLUMNS if not c.get("priority")]
    wide_cols = [c["name"] for c in PRINTER_COLUMNS if c.get("priority") == 1]
    assert default_cols == ["Status", "Ollama", "Models", "Loaded", "GPUs", "VRAM", "Since", "Age"]
    assert wide_cols == ["OS", "CPU", "Agent", "Source"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_against_crd_schema_and_model(example: Path) -> None:
    obj = yaml.safe_load(example.read_text(encoding="utf-8"))
    jsonschema.validate(obj, _schema())
    node = OllamaNode.model_validate(obj)
    # What the model writes back is what the file holds: nothing is lost in the round trip.
    assert node.to_wire() == obj
    assert node.status.summary is not None
    from obt.core.summary import summarize

    assert node.status.summary == summarize(node.status.hardware, node.status.ollama)


def test_examples_cover_the_fleet() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {
        "dgx-h100-8gpu",
        "amd-mi300x-rocm",
        "mac-studio-m2-ultra",
        "windows-gaming-pc",
        "cpu-only-arm-unreachable",
    } <= names


def test_eight_gpu_node_with_100_models_is_under_16_kib() -> None:
    obj = yaml.safe_load((REPO / "crds/examples/dgx-h100-8gpu.yaml").read_text(encoding="utf-8"))
    node = OllamaNode.model_validate(obj)
    assert len(node.status.hardware.gpus) == 8  # type: ignore[union-attr]
    assert len(node.status.ollama.models) == 100  # type: ignore[union-attr]
    size = len(json.dumps(node.to_wire(), separators=(",", ":")).encode())
    assert size < 16 * 1024, f"{size} bytes"


def test_schema_rejects_a_wrong_object() -> None:
    obj = yaml.safe_load(
        (REPO / "crds/examples/windows-gaming-pc.yaml").read_text(encoding="utf-8")
    )
    obj["spec"]["source"] = "laptop"
    with pytest.raises(jsonschema.ValidationError, match="laptop"):
        jsonschema.validate(obj, _schema())
    obj["spec"]["source"] = "standalone"
    obj["status"]["ollama"]["models"] = ["llama3.1:8b with spaces"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, _schema())
