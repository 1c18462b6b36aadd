"""Heartbeats answered before FastAPI's routing.

A heartbeat that carries nothing new is a token lookup, a dict update and a pre-encoded reply; the
routing, dependency injection and model validation around it cost several times more than the
work itself (docs/performance.md). This ASGI app reads the body (stopping past the heartbeat
limit) and hands it to `answer_heartbeat` (heartbeat.py), the handler the documented route in
router.py calls too; anything that is not a heartbeat goes to the full application.
"""

from __future__ import annotations

from typing import Any

from obt.api.agents.heartbeat import (
    HEARTBEAT_PATH,
    MAX_HEARTBEAT_BYTES,
    Answer,
    answer_heartbeat,
    too_large,
)
from obt.api.security import send_json


class HeartbeatFastPath:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = HEARTBEAT_PATH.match(scope["path"])
        state = getattr(scope["app"].state, "obt", None) if "app" in scope else None
        if match is None or state is None:
            await self.app(scope, receive, send)
            return
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
            if len(body) > MAX_HEARTBEAT_BYTES:
                await send_answer(send, too_large())
                return
        await send_answer(send, await answer_heartbeat(state, match.group(1), authorization, body))


async def send_answer(send: Any, answer: Answer) -> None:
    await send_json(send, answer.status, answer.body, answer.headers)
