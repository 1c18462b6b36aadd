"""/api/v1/events: Server-Sent Events of committed node and model changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from obt.api.auth.access import require
from obt.api.auth.roles import Role
from obt.api.deps import StateDep
from obt.api.schemas import DENIED

router = APIRouter(tags=["events"], responses=DENIED, dependencies=[require(Role.viewer)])

EVENT_TYPES = "node.upserted, node.deleted, models.changed, resync"


def format_event(event: dict[str, Any]) -> bytes:
    lines = [f"event: {event.get('type', 'message')}"]
    if "id" in event:
        lines.append(f"id: {event['id']}")
    lines.append("data: " + json.dumps(event, separators=(",", ":"), default=str))
    return ("\n".join(lines) + "\n\n").encode()


@router.get(
    "/api/v1/events",
    operation_id="streamEvents",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "text/event-stream. Event types: "
            + EVENT_TYPES
            + ". `data` is JSON: {type, name, phase?, resourceVersion?, reason?, at, id}. "
            "`resync` means events may have been missed: refetch what is shown.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream_events(request: Request, state: StateDep) -> StreamingResponse:
    """Live node and model changes as they are committed (one event per change)."""
    keepalive = state.settings.api.sse_keepalive_seconds

    async def stream() -> AsyncIterator[bytes]:
        async with state.bus.subscribe() as queue:
            # Sent at once so that clients (and tests) know the subscription is live.
            yield b": connected\nretry: 3000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=keepalive)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                yield format_event(event)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
