"""Contract models: wire format, installed-model lines, the agent's status patch."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from obt.core.models import InstalledModel, OllamaNode, OllamaStatus
from obt.core.models.ollama import model_from_line, model_to_line
from obt.core.report import AgentReport


def test_installed_model_line_round_trip() -> None:
    model = InstalledModel(
        name="llama3.1:8b",
        digest="46e0c10c039e",
        size=4920753328,
        modified_at=datetime(2024, 8, 1, 12, 0, tzinfo=timezone.utc),
        family="llama",
        parameter_size="8.0B",
        quantization_level="Q4_K_M",
    )
    line = model_to_line(model)
    assert line == "llama3.1:8b 46e0c10c039e 4920753328 llama 8.0B Q4_K_M 2024-08-01T12:00:00Z"
    assert InstalledModel.model_validate(model_from_line(line)) == model


def test_unknown_fields_are_dashes_and_come_back_as_none() -> None:
    status = OllamaStatus(models=[InstalledModel(name="tinyllama:latest")])
    wire = status.to_wire()
    assert wire["models"] == ["tinyllama:latest - - - - - -"]
    back = OllamaStatus.model_validate(wire)
    assert back.models[0].name == "tinyllama:latest"
    assert back.models[0].digest is None and back.models[0].modified_at is None


def test_python_dump_keeps_objects() -> None:
    status = OllamaStatus(models=[InstalledModel(name="qwen2.5:7b", size=1)])
    assert status.model_dump()["models"][0]["name"] == "qwen2.5:7b"


def test_malformed_model_line_names_the_value() -> None:
    with pytest.raises(ValidationError, match="got 'only-a-name'"):
        OllamaStatus.model_validate({"models": ["only-a-name"]})


def test_node_rejects_unknown_source_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        OllamaNode.model_validate({"metadata": {"name": "x"}, "spec": {"source": "laptop"}})
    assert "spec.source" in str(err.value)


def test_status_patch_never_names_operator_fields_and_nulls_vanished_facts() -> None:
    report = AgentReport(ollama=OllamaStatus(reachable=True, version="0.5.7"))
    status = report.status_patch()["status"]
    assert isinstance(status, dict)
    assert set(status) == {"hardware", "ollama", "agent", "summary"}
    # error is None now: sent as null so a JSON merge patch removes an old error.
    assert status["ollama"]["error"] is None


def test_digest_is_semantic() -> None:
    a = AgentReport(ollama=OllamaStatus(reachable=True, version="0.5.7"))
    b = AgentReport.model_validate(a.to_wire())
    assert a.digest() == b.digest()
    b.ollama.version = "0.5.8"
    assert a.digest() != b.digest()
