"""Shared base for the contract models: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ContractModel(BaseModel):
    """Base of every model that is stored in an OllamaNode.

    Kubernetes objects use camelCase field names; Python code uses snake_case. Unknown fields are
    ignored on read so that an older component can read an object a newer one wrote.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready form stored in Kubernetes: camelCase, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
