"""Base of the API's own response and request models: camelCase on the wire."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

# The largest integer the database stores (BIGINT): query numbers above it answer 422, not an
# overflow inside the driver.
INT64_MAX = 2**63 - 1


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Page(ApiModel, Generic[T]):
    items: list[T] = Field(..., description="This page of results.")
    total: int = Field(..., ge=0, description="Results matching the query, across all pages.")
    limit: int = Field(..., ge=1, description="Page size asked for.")
    offset: int = Field(..., ge=0, description="Results skipped before this page.")


class Problem(ApiModel):
    detail: str = Field(..., description="What was wrong, naming the input.")


class ValidationProblem(ApiModel):
    detail: str = Field(
        ...,
        description="Every invalid input as '<field path>: <what is wrong>', joined by '; ', "
        "e.g. 'hardware.gpus[0].vendor: Input should be ...'.",
    )
    errors: list[dict[str, object]] = Field(
        default_factory=list, description="The same, machine-readable (pydantic errors)."
    )


VALIDATION_RESPONSES: dict[int | str, dict[str, object]] = {
    422: {"model": ValidationProblem, "description": "An input was invalid; `detail` names it."}
}

DENIED: dict[int | str, dict[str, object]] = {
    401: {
        "model": Problem,
        "description": "No credential (WWW-Authenticate: Bearer), or an unknown, expired or "
        "revoked one (`detail` says which).",
    },
    403: {
        "model": Problem,
        "description": "The caller's role is too low (`detail` names the role needed), a node "
        "token, or a failed CSRF check.",
    },
    429: {"model": Problem, "description": "Too many failed credential checks; see Retry-After."},
}
"""The answers of an operation that needs a role (auth/access.py)."""
