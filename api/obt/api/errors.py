"""Error bodies people can read: every 4xx says which input was wrong."""

from __future__ import annotations

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


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail = "; ".join(f"{field_path(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors)
    return JSONResponse(
        status_code=422,
        content={
            "detail": detail,
            "errors": jsonable_encoder(errors, exclude={"input", "ctx", "url"}),
        },
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
