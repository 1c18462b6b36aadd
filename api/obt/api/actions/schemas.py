"""Bodies of the task, model-set and work-delivery routes: the kinds' own wire forms."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, field_validator

from obt.api.schemas import ApiModel, Page
from obt.core.models.actions import (
    MAX_ACTIVITY,
    Activity,
    OllamaModelSet,
    OllamaModelSetSpec,
    OllamaTask,
    OllamaTaskSpec,
)

# A Kubernetes object name (DNS-1123 subdomain).
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def check_labels(labels: dict[str, str] | None) -> dict[str, str] | None:
    """Kubernetes' label rules, naming the bad key or value."""
    for key, value in (labels or {}).items():
        if len(key) > 316 or not _LABEL_KEY.match(key):
            raise ValueError(
                f"label key {key!r} is not valid: [prefix/]name, the name up to 63 characters "
                "of letters, digits, '-', '_', '.', starting and ending with a letter or digit"
            )
        if not _LABEL_VALUE.match(value):
            raise ValueError(
                f"label {key!r}: value {value!r} is not valid: up to 63 characters of letters, "
                "digits, '-', '_', '.', starting and ending with a letter or digit"
            )
    return labels


class MetadataIn(ApiModel):
    name: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        pattern=NAME_PATTERN,
        description="The object's name (lower-case letters, digits, '-', '.'); unset on "
        "POST: one is generated (`<action>-<first model>-<5 characters>`).",
    )
    labels: dict[str, str] | None = Field(None, description="Labels of the object.")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_labels(value)


class TaskIn(ApiModel):
    """An OllamaTask as `kubectl apply` takes it; apiVersion/kind may be left out, status is
    ignored."""

    api_version: Literal["obt.dev/v1alpha1"] | None = Field(None, description="obt.dev/v1alpha1")
    kind: Literal["OllamaTask"] | None = Field(None, description="OllamaTask")
    metadata: MetadataIn = Field(default_factory=MetadataIn)
    spec: OllamaTaskSpec


class ModelSetIn(ApiModel):
    """An OllamaModelSet as `kubectl apply` takes it; apiVersion/kind may be left out, status is
    ignored."""

    api_version: Literal["obt.dev/v1alpha1"] | None = Field(None, description="obt.dev/v1alpha1")
    kind: Literal["OllamaModelSet"] | None = Field(None, description="OllamaModelSet")
    metadata: MetadataIn = Field(default_factory=MetadataIn)
    spec: OllamaModelSetSpec


class TaskPage(Page[OllamaTask]):
    """Tasks, newest first."""


class ModelSetPage(Page[OllamaModelSet]):
    """Model sets, newest first."""


class ActivityUpdate(ApiModel):
    activity: list[Activity] = Field(
        ...,
        max_length=MAX_ACTIVITY,
        description=f"The node's whole activity list (at most {MAX_ACTIVITY} entries, running "
        "first): it replaces the stored one.",
    )


class ActivityAccepted(ApiModel):
    changed: bool = Field(..., description="False when the stored list was the same already.")
    generation: int = Field(..., description="The work generation now (see the heartbeat).")


class Work(ApiModel):
    generation: int = Field(
        ...,
        description="The work generation these assignments were read at (the heartbeat's "
        "`workGeneration`).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="The node's labels, as selectors see them."
    )
    tasks: list[OllamaTask] = Field(
        default_factory=list,
        description="Tasks not finished that name this node or whose selector picks it.",
    )
    model_sets: list[OllamaModelSet] = Field(
        default_factory=list, description="Model sets whose selector picks this node."
    )


class NodeLabels(ApiModel):
    labels: dict[str, str] = Field(
        ...,
        description="The node's labels: they replace the ones set before (the enrollment's, "
        "or an earlier PUT's).",
    )

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_labels(value)


def strict_body(model: type[BaseModel]) -> Any:
    """`dependencies=[strict_body(M)]`: the body must be M without type coercion (`"prune": 0`
    is not `false`, `"maxConcurrent": "2"` is not 2): the kinds' models are lax for what the
    cluster stores, a person's request is held to its schema. 422 naming the field, before
    anything is stored; a body that is not JSON is left to FastAPI's own answer."""

    async def check(request: Request) -> None:
        body = await request.body()
        try:
            model.model_validate_json(body, strict=True)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                return
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            ) from None

    return Depends(check)
