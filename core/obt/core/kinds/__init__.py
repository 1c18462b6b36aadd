"""The registry of OBT's custom resource kinds.

Adding a kind is one module beside `ollamanode.py` that declares a `Kind` (names, scope, printer
columns, pydantic models, description) and one line in `KINDS` below; then `make generate`
writes its CRD into crds/ and the chart's crds/.
"""

from __future__ import annotations

from obt.core.kinds.base import Kind, PrinterColumn
from obt.core.kinds.ollamabenchmark import OLLAMABENCHMARK, OLLAMABENCHMARKRESULT
from obt.core.kinds.ollamamodelset import OLLAMAMODELSET
from obt.core.kinds.ollamanode import OLLAMANODE
from obt.core.kinds.ollamatask import OLLAMATASK

# Every kind, in the order `obt crd` prints them. Add a new kind's declaration here.
KINDS: list[Kind] = [
    OLLAMANODE,
    OLLAMATASK,
    OLLAMAMODELSET,
    OLLAMABENCHMARK,
    OLLAMABENCHMARKRESULT,
]


class UnknownKindError(LookupError):
    """`find` was given a name no registered kind answers to."""


def all_kinds() -> list[Kind]:
    return list(KINDS)


def find(name: str) -> Kind:
    """The kind called `name`: its kind, plural, singular or a short name (any case)."""
    wanted = name.strip().lower()
    for kind in KINDS:
        if wanted in kind.names():
            return kind
    known = "; ".join(
        f"{k.kind} (also {', '.join(sorted(k.names() - {k.kind.lower()}))})" for k in KINDS
    )
    raise UnknownKindError(f"unknown kind {name!r}; known kinds: {known}")


__all__ = ["KINDS", "Kind", "PrinterColumn", "UnknownKindError", "all_kinds", "find"]
