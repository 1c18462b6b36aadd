"""Error bodies people can read: every 4xx says which input was wrong."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'hardware', 'gpus', 0, 'vendor') -> 'hardware.gpus[0].vendor'."""
    parts = list(loc)
    where = parts.pop(0) if parts and parts[0] in ("body", "query", "path", "header") else "body"
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    if where != "body":
        out = f"{out} ({where})"
    return out or where


def validation_problem(errors: Sequence[Any], prefix: tuple[Any, ...] = ()) -> dict[str, Any]:
    """The 422 body: one sentence naming each field, and pydantic's list (locations prefixed)."""
    located = [{**e, "loc": (*prefix, *e.get("loc", ()))} for e in errors]
    detail = "; ".join(f"{field_path(e['loc'])}: {e.get('msg', 'invalid')}" for e in located)
    return {
        "detail": detail,
        "errors": jsonable_encoder(located, exclude={"input", "ctx", "url"}),
    }


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content=validation_problem(exc.errors()))


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document declares for this path. Starlette's 405 names only the
    methods of the first route that matched the path, but a path may be served by several (GET
    and DELETE of /api/v1/nodes/{name} live in different routers)."""
    app = request.app
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{pattern}$"), sorted(m.upper() for m in operations)))
        app.state.allow_table = table
    path = request.url.path
    return sorted({m for pattern, methods in table if pattern.match(path) for m in methods})


async def http_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        documented = allowed_methods(request)
        headers = getattr(exc, "headers", None) or {}
        allow = ", ".join(documented) if documented else headers.get("Allow", "")
        return JSONResponse(
            status_code=405,
            content={"detail": f"method {request.method} not allowed here; allowed: {allow}"},
            headers={"Allow": allow},
        )
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's answer to a body that is not JSON at all (e.g. not UTF-8): the documented
        # 422, naming the body.
        problem = [{"loc": ["body"], "msg": "not valid JSON", "type": "json_invalid"}]
        return JSONResponse(status_code=422, content=validation_problem(problem))
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


async def single_valued_query(request: Request) -> None:
    """422 for a query parameter given more than once where the operation takes one value
    (FastAPI would silently keep the last): `?actor=a&actor=b` is a mistake, not a filter."""
    from collections import Counter

    from fastapi._compat import field_annotation_is_sequence
    from fastapi.dependencies.utils import get_flat_params

    counts = Counter(key for key, _ in request.query_params.multi_items())
    if not counts or max(counts.values()) < 2:
        return
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    for field in get_flat_params(dependant):
        n = counts.get(field.alias, 0)
        if n > 1 and not field_annotation_is_sequence(field.field_info.annotation):
            raise HTTPException(422, f"{field.alias}: given {n} times; it takes one value")
