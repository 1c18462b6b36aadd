"""What declares a custom resource kind: its names, scope, columns and pydantic models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from obt.core.names import GROUP, VERSION

# One entry of a CRD version's `additionalPrinterColumns` (name, type, jsonPath, optional
# description and priority; priority 1 shows only with `kubectl get -o wide`).
PrinterColumn = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """One custom resource kind of the OBT contract; obt.core.crd turns it into a CRD."""

    kind: str
    plural: str
    singular: str
    description: str
    """The CRD schema's top-level description: what one object is, how it is named."""
    model: type[BaseModel]
    """The whole object (apiVersion, kind, metadata, spec, status)."""
    spec: type[BaseModel]
    status: type[BaseModel] | None = None
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("obt",)
    scope: Literal["Cluster", "Namespaced"] = "Cluster"
    status_subresource: bool = True
    printer_columns: tuple[PrinterColumn, ...] = ()
    group: str = GROUP
    version: str = VERSION

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        """The CustomResourceDefinition's metadata.name: <plural>.<group>."""
        return f"{self.plural}.{self.group}"

    def names(self) -> set[str]:
        """What `obt crd NAME` and kubectl accept for this kind, lower-cased."""
        return {self.kind.lower(), self.plural, self.singular, *self.short_names}
