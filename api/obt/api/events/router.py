"""/api/v1/events: Server-Sent Events of committed node and model changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from obt.api.auth.access import require
from obt.api.auth.roles import Role
from obt.api.deps import StateDep
from obt.api.events.bus import CLOSE, StreamSlots
from obt.api.schemas import DENIED, VALIDATION_RESPONSES, Problem

router = APIRouter(tags=["events"], responses=DENIED, dependencies=[require(Role.viewer)])

EVENT_TYPES = (
    "node.upserted (with `activity: true` when the node's activity changed), node.deleted, "
    "models.changed, task.changed and modelset.changed (`change`: created, updated, deleted; "
    "modelset.changed also `status` with the set's counts), task.progress (a task's status "
    "changed: phase and counts), resync"
)


def format_event(event: dict[str, Any], sse_id: str | None = None) -> bytes:
    lines = [f"event: {event.get('type', 'message')}"]
    if sse_id is not None:
        lines.append(f"id: {sse_id}")
    lines.append("data: " + json.dumps(event, separators=(",", ":"), default=str))
    return ("\n".join(lines) + "\n\n").encode()


class _SlotStream(StreamingResponse):
    def __init__(self, content: Any, slots: StreamSlots, client: str, **kw: Any) -> None:
        super().__init__(content, **kw)
        self._slots = slots
        self._client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slots.give(self._client)


@router.get(
    "/api/v1/events",
    operation_id="streamEvents",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "text/event-stream. Event types: "
            + EVENT_TYPES
            + ". `data` is JSON: {type, name, phase?, resourceVersion?, reason?, change?, "
            "the status counts?, workGeneration?, at, id}. "
            "Each event has an SSE id; a client reconnecting with `Last-Event-ID` first gets "
            "the events it missed, or `resync` when they are no longer kept (or the id is from "
            "another replica or before a restart). "
            "`resync` means events may have been missed: refetch what is shown.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        429: {
            "model": Problem,
            "description": "Too many open streams from this address or in total.",
        },
        **VALIDATION_RESPONSES,
    },
)
async def stream_events(
    request: Request,
    state: StateDep,
    last_event_id: Annotated[
        str | None,
        Header(description="The id of the last event received (browsers send it on reconnect)."),
    ] = None,
) -> StreamingResponse:
    """Live node, model, task and model-set changes as they are committed (one event per
    change)."""
    keepalive = state.settings.api.sse_keepalive_seconds
    caps = state.settings.api.events
    bus = state.bus
    slots = bus.streams
    client = request.client.host if request.client else "-"
    refused = slots.take(client, caps.max_streams_per_client, caps.max_streams)
    if refused:
        raise HTTPException(429, refused, headers={"Retry-After": str(caps.retry_after_seconds)})

    async def stream() -> AsyncIterator[bytes]:
        async with bus.subscribe() as queue:
            # Nothing awaits between subscribing and reading the buffer: no event falls between.
            missed = bus.replay(last_event_id) if last_event_id else []
            # Sent at once so that clients (and tests) know the subscription is live.
            yield b": connected\nretry: 3000\n\n"
            if missed is None:
                resync = bus.resync_event()
                yield format_event(resync, bus.event_id(resync))
            else:
                for event in missed:
                    yield format_event(event, bus.event_id(event))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=keepalive)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                if event is CLOSE:
                    return
                yield format_event(event, bus.event_id(event))

    try:
        return _SlotStream(
            stream(),
            slots,
            client,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    except BaseException:
        slots.give(client)
        raise
