"""The Ollama server on a machine: version, installed models and models loaded right now.

Installed models are stored in the object as one line each, the way `ollama list` prints them:

    <name> <digest12> <size-bytes> <family> <parameter-size> <quantization> <modified-at>

with `-` for an unknown field, e.g. `llama3.1:8b 46e0c10c039e 4920753328 llama 8.0B Q4_K_M
2024-08-01T12:00:00Z`. A node with 100 models and 8 GPUs then stays under 16 KiB (as an object
per model it would take about 22 KiB, which every watcher receives on each change). In Python
code they are `InstalledModel` objects; only the stored form is a line.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from obt.core.models.base import ContractModel


class InstalledModel(ContractModel):
    """One entry of Ollama's `/api/tags`."""

    name: str = Field(
        ..., min_length=1, pattern=r"^\S+$", description="Model name with tag, e.g. 'llama3.1:8b'."
    )
    digest: str | None = Field(
        None,
        description="First 12 hex digits of the model's sha256 digest (what `ollama list` shows as ID); "
        "enough to tell copies apart and keeps objects small.",
    )
    size: int | None = Field(None, ge=0, description="Size on disk in bytes.")
    modified_at: datetime | None = Field(
        None, description="When the model was pulled or last changed."
    )
    family: str | None = Field(
        None, description="Model family from Ollama's details, e.g. 'llama', 'qwen2'."
    )
    parameter_size: str | None = Field(
        None, description="Parameter count as Ollama reports it, e.g. '8.0B'."
    )
    quantization_level: str | None = Field(None, description="Quantization, e.g. 'Q4_K_M', 'F16'.")


_NAME = r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*"
_FIELD = r"\S+"
MODEL_LINE_PATTERN = rf"^{_NAME}( {_FIELD}){{6}}$"
_MODEL_LINE = re.compile(MODEL_LINE_PATTERN)


def model_to_line(model: InstalledModel) -> str:
    """The stored form of an installed model (see the module docstring)."""
    modified = model.modified_at.isoformat().replace("+00:00", "Z") if model.modified_at else None
    fields = [
        model.name,
        model.digest,
        str(model.size) if model.size is not None else None,
        model.family,
        model.parameter_size,
        model.quantization_level,
        modified,
    ]
    return " ".join(f if f else "-" for f in fields)


def model_from_line(value: Any) -> Any:
    """Accept the stored line as well as a mapping or an InstalledModel."""
    if not isinstance(value, str):
        return value
    if not _MODEL_LINE.match(value):
        raise ValueError(
            "an installed model must be '<name> <digest> <size> <family> <parameter-size> "
            f"<quantization> <modified-at>' with '-' for unknown fields, got {value!r}"
        )
    name, digest, size, family, params, quant, modified = value.split(" ")

    def opt(field: str) -> str | None:
        return None if field == "-" else field

    return {
        "name": name,
        "digest": opt(digest),
        "size": opt(size),
        "family": opt(family),
        "parameter_size": opt(params),
        "quantization_level": opt(quant),
        "modified_at": opt(modified),
    }


StoredInstalledModel = Annotated[
    InstalledModel,
    BeforeValidator(model_from_line),
    PlainSerializer(model_to_line, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MODEL_LINE_PATTERN,
            "description": "'<name> <digest12> <size-bytes> <family> <parameter-size> "
            "<quantization> <modified-at>', '-' where unknown, as `ollama list` shows models.",
        },
        mode="serialization",
    ),
]


class LoadedModel(ContractModel):
    """One entry of Ollama's `/api/ps`: a model held in memory right now."""

    name: str = Field(..., min_length=1, description="Model name with tag.")
    digest: str | None = Field(
        None, description="First 12 hex digits of the model's sha256 digest."
    )
    size: int | None = Field(
        None, ge=0, description="Memory the loaded model takes in total, in bytes."
    )
    size_vram: int | None = Field(
        None, ge=0, description="Part of it held in GPU memory, in bytes."
    )
    context_length: int | None = Field(
        None, ge=0, description="Context window it was loaded with, in tokens."
    )
    expires_at: datetime | None = Field(None, description="When Ollama will unload it if unused.")


class OllamaStatus(ContractModel):
    """The Ollama server on the machine, as the agent last saw it."""

    url: str | None = Field(
        None, description="Base URL the agent reaches Ollama at, e.g. 'http://127.0.0.1:11434'."
    )
    reachable: bool = Field(False, description="Whether the last query to Ollama succeeded.")
    error: str | None = Field(
        None, description="Why Ollama could not be reached or read, when it could not."
    )
    version: str | None = Field(None, description="Ollama server version from /api/version.")
    models: list[StoredInstalledModel] = Field(
        default_factory=list,
        description="Installed models, sorted by name, one line each: '<name> <digest12> "
        "<size-bytes> <family> <parameter-size> <quantization> <modified-at>'.",
    )
    loaded: list[LoadedModel] = Field(
        default_factory=list, description="Models loaded in memory now, sorted by name."
    )
