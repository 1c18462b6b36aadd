"""`metav1.Status` errors, shaped like k8s.io/apimachinery/pkg/api/errors."""

from __future__ import annotations

from typing import Any

from tests.support.kube_resources import ResourceInfo


class StatusError(Exception):
    """A server-side error answer (the test server raises it; clients see obt.core.kube.ApiError)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            out["details"] = self.details
        return out


def qualified(info: ResourceInfo) -> str:
    """`ollamanodes.obt.dev`, `pods` — the GroupResource string the real messages use."""
    return f"{info.plural}.{info.group}" if info.group else info.plural


def _details(info: ResourceInfo, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": info.plural}
    if info.group:
        out["group"] = info.group
    return out


def not_found(info: ResourceInfo, name: str) -> StatusError:
    return StatusError(
        404, "NotFound", f'{qualified(info)} "{name}" not found', _details(info, name)
    )


def already_exists(info: ResourceInfo, name: str) -> StatusError:
    return StatusError(
        409, "AlreadyExists", f'{qualified(info)} "{name}" already exists', _details(info, name)
    )


def conflict(info: ResourceInfo, name: str, why: str | None = None) -> StatusError:
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(info)} "{name}": {why}',
        _details(info, name),
    )


def invalid(info: ResourceInfo, name: str, causes: list[dict[str, str]]) -> StatusError:
    """422 Invalid, `Kind.group "name" is invalid: field: message` (errors.NewInvalid)."""
    kind = f"{info.kind}.{info.group}" if info.group else info.kind
    joined = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    if len(causes) > 1:
        joined = f"[{joined}]"
    details = {"name": name, "kind": info.kind, "causes": causes}
    if info.group:
        details["group"] = info.group
    return StatusError(422, "Invalid", f'{kind} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)
