"""Roles (`viewer` < `operator` < `admin`) and the principal a request acts as."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal


class Role(str, enum.Enum):
    viewer = "viewer"
    operator = "operator"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """This role may do what `needed` may."""
        return self.rank >= needed.rank


_RANK = {Role.viewer: 0, Role.operator: 1, Role.admin: 2}

PrincipalKind = Literal["anonymous", "token", "session", "proxy", "node"]


@dataclass(frozen=True)
class Principal:
    """Who a request acts as (`request.state.principal`). `id`: the API token's id ("admin"
    for the configured admin token), the session's token id, the proxy user, or the node name;
    `role` is None for node tokens (they report, they read nothing)."""

    kind: PrincipalKind
    id: str
    name: str
    role: Role | None

    def as_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "role": self.role.value if self.role else None,
        }


ANONYMOUS = Principal("anonymous", "anonymous", "anonymous", None)
ANONYMOUS_VIEWER = Principal("anonymous", "anonymous", "anonymous", Role.viewer)
