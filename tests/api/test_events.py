"""SSE: a committed change reaches an open /api/v1/events stream (both backends)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.api.conftest import Api, _truncate, make_settings, served_api


async def read_events(api: Api, n: int, started: asyncio.Event, out: list[dict[str, Any]]) -> None:
    async with api.client.stream("GET", "/api/v1/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event: str | None = None
        async for line in r.aiter_lines():
            if line.startswith(": connected"):
                started.set()
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["type"] == event
                out.append(data)
                if len(out) >= n:
                    return


async def test_sse_delivers_committed_changes(db_url: str) -> None:
    async with served_api(make_settings(db_url)) as api:
        await _truncate(api.state)
        await _sse_flow(api)


async def _sse_flow(api: Api) -> None:
    started = asyncio.Event()
    got: list[dict[str, Any]] = []
    reader = asyncio.create_task(read_events(api, 5, started, got))
    await asyncio.wait_for(started.wait(), 5)
    headers = api.admin
    await api.client.post("/api/v1/admin/seed", json={"count": 1}, headers=headers)
    await api.client.post("/api/v1/admin/seed", json={"count": 1, "variant": 1}, headers=headers)
    await api.client.delete("/api/v1/admin/nodes/fake-00000", headers=headers)
    await asyncio.wait_for(reader, 10)
    kinds = [(e["type"], e["name"]) for e in got]
    assert kinds == [
        ("node.upserted", "fake-00000"),
        ("models.changed", "fake-00000"),
        ("node.upserted", "fake-00000"),
        ("models.changed", "fake-00000"),
        ("node.deleted", "fake-00000"),
    ]
    assert got[0]["created"] is True and got[2]["created"] is False
    ids = [e["id"] for e in got]
    assert ids == sorted(ids)


async def test_postgres_events_reach_other_replicas(pg_url: str | None) -> None:
    """LISTEN/NOTIFY: a write committed through replica A is streamed by replica B."""
    import pytest

    if pg_url is None:
        pytest.skip("PostgreSQL not available")
    async with served_api(make_settings(pg_url)) as a, served_api(make_settings(pg_url)) as b:
        await _truncate(a.state)
        started = asyncio.Event()
        got: list[dict[str, Any]] = []
        reader = asyncio.create_task(read_events(b, 2, started, got))
        await asyncio.wait_for(started.wait(), 5)
        await a.client.post(
            "/api/v1/admin/seed", json={"count": 1, "prefix": "rep"}, headers=a.admin
        )
        await asyncio.wait_for(reader, 10)
        assert [(e["type"], e["name"]) for e in got] == [
            ("node.upserted", "rep-00000"),
            ("models.changed", "rep-00000"),
        ]
