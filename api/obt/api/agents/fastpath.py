"""Heartbeats answered before FastAPI's routing.

A heartbeat that carries nothing new is a token lookup, a dict update and a pre-encoded reply; the
routing, dependency injection and model validation around it cost several times more than the
work itself. This ASGI middleware answers `POST /api/v1/agents/{name}/heartbeat` with exactly the
behaviour of the documented route in router.py (same status codes and messages), which stays for
OpenAPI and as the fallback for anything this path does not handle.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import ValidationError

from obt.api.errors import validation_problem
from obt.api.security import _reply, bearer
from obt.core.telemetry import Telemetry

_PATH = re.compile(r"^/api/v1/agents/([^/]{1,253})/heartbeat$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_TRUE = b'{"reportNeeded":true}'
_FALSE = b'{"reportNeeded":false}'


class HeartbeatFastPath:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _PATH.match(scope["path"])
        state = getattr(scope["app"].state, "obt", None) if "app" in scope else None
        if match is None or state is None:
            await self.app(scope, receive, send)
            return
        name = match.group(1)
        authorization = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
                break
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > 4096:
                await _reply(send, 413, {"detail": "heartbeat body larger than 4096 bytes"}, [])
                return
        ingest = state.ingest
        cred = ingest.authenticate(bearer(authorization))
        if cred is None:
            await _reply(
                send,
                401,
                {
                    "detail": "Authorization: a valid 'Bearer <node token>' is required (enroll first)"
                },
                [(b"www-authenticate", b"Bearer")],
            )
            return
        if cred.node_name != name:
            await _reply(
                send,
                403,
                {"detail": f"this token belongs to node {cred.node_name!r}, not {name!r}"},
                [],
            )
            return
        wait = state.limiter.hit(f"node:{name}", state.settings.api.rate_limit.per_token_per_minute)
        if wait is not None:
            retry = str(max(1, math.ceil(wait)))
            await _reply(
                send,
                429,
                {"detail": f"rate limit exceeded for this node token; retry after {retry}s"},
                [(b"retry-after", retry.encode())],
            )
            return
        try:
            parsed = json.loads(body) if body else {}
            digest = parsed["digest"]
        except (ValueError, TypeError, KeyError):
            parsed, digest = {}, None
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            await _reply(
                send,
                422,
                {
                    "detail": "digest: must be the 64 hex digits of the last report's sha256",
                    "errors": [],
                },
                [],
            )
            return
        telemetry = None
        if parsed.get("telemetry") is not None:
            try:
                telemetry = Telemetry.model_validate(parsed["telemetry"])
            except ValidationError as exc:
                problem = validation_problem(exc.errors(), ("body", "telemetry"))
                await _reply(send, 422, problem, [])
                return
        needed = await ingest.heartbeat(cred, digest, telemetry)
        payload = _TRUE if needed else _FALSE
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
