"""Error bodies people can read: every 4xx says which input was wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
