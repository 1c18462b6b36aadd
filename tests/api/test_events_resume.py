"""SSE resume with Last-Event-ID, resync past the buffer, and the caps on open streams, against a
real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.api.conftest import Api, _truncate, make_settings, served_api


async def read_stream(
    api: Api, n: int, *, last_event_id: str | None = None
) -> list[tuple[str | None, dict[str, Any]]]:
    """Open /api/v1/events, read `n` events as (SSE id, data), close the connection."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    got: list[tuple[str | None, dict[str, Any]]] = []
    async with api.client.stream("GET", "/api/v1/events", headers=headers) as r:
        assert r.status_code == 200, r.status_code
        sse_id: str | None = None
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                sse_id = line[4:]
            elif line.startswith("data: "):
                got.append((sse_id, json.loads(line[6:])))
                sse_id = None
                if len(got) >= n:
                    break
    return got


async def seed(api: Api, prefix: str) -> None:
    r = await api.client.post(
        "/api/v1/admin/seed", json={"count": 1, "prefix": prefix}, headers=api.admin
    )
    assert r.status_code < 300, r.text


async def test_events_missed_while_disconnected_arrive_after_reconnect(db_url: str) -> None:
    async with served_api(make_settings(db_url)) as api:
        await _truncate(api.state)
        first = asyncio.create_task(read_stream(api, 2))
        await asyncio.sleep(0.3)
        await seed(api, "before")
        got = await asyncio.wait_for(first, 10)
        assert [(e["type"], e["name"]) for _, e in got] == [
            ("node.upserted", "before-00000"),
            ("models.changed", "before-00000"),
        ]
        last_id = got[-1][0]
        assert last_id is not None and last_id.startswith(api.state.bus.epoch + "-")
        # Disconnected (the stream above is closed): two more changes happen.
        await seed(api, "during")
        await seed(api, "during2")
        again = await asyncio.wait_for(read_stream(api, 4, last_event_id=last_id), 10)
        assert [(e["type"], e["name"]) for _, e in again] == [
            ("node.upserted", "during-00000"),
            ("models.changed", "during-00000"),
            ("node.upserted", "during2-00000"),
            ("models.changed", "during2-00000"),
        ]
        numbers = [int(sse_id.rsplit("-", 1)[1]) for sse_id, _ in got + again if sse_id]
        assert numbers == sorted(numbers) and len(set(numbers)) == 6


async def delivered(api: Api, count: int) -> None:
    """Wait until this process's bus has numbered `count` events (PostgreSQL delivers them
    through LISTEN/NOTIFY, after the write returned)."""
    for _ in range(200):
        if api.state.bus.resync_event()["id"] >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the bus never numbered {count} events")


async def test_resync_when_missed_events_fell_out_of_the_buffer(db_url: str) -> None:
    async with served_api(make_settings(db_url, events={"buffer_size": 2})) as api:
        await _truncate(api.state)
        first = asyncio.create_task(read_stream(api, 1))
        await asyncio.sleep(0.3)
        await seed(api, "a")
        got = await asyncio.wait_for(first, 10)
        last_id = got[0][0]
        assert last_id is not None
        # Three more events than the buffer holds (2 per seed): the one after last_id is gone.
        base = api.state.bus.resync_event()["id"]
        await seed(api, "b")
        await seed(api, "c")
        await delivered(api, base + 4)
        again = await asyncio.wait_for(read_stream(api, 1, last_event_id=last_id), 10)
        resync_id, resync = again[0]
        assert resync["type"] == "resync"
        # The resync carries the latest id: reconnecting with it resumes from there.
        await seed(api, "d")
        await delivered(api, base + 6)
        after = await asyncio.wait_for(read_stream(api, 2, last_event_id=resync_id), 10)
        assert [(e["type"], e["name"]) for _, e in after] == [
            ("node.upserted", "d-00000"),
            ("models.changed", "d-00000"),
        ]


async def test_an_id_from_another_replica_or_before_a_restart_gets_resync(db_url: str) -> None:
    async with served_api(make_settings(db_url)) as api:
        for stale in ("00000000-5", "garbage", f"{api.state.bus.epoch}-999999"):
            got = await asyncio.wait_for(read_stream(api, 1, last_event_id=stale), 10)
            assert got[0][1]["type"] == "resync", stale


async def test_streams_are_capped_per_address_and_in_total(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}"
    settings = make_settings(
        url, events={"max_streams_per_client": 5, "max_streams": 8, "retry_after_seconds": 7}
    )
    async with served_api(settings) as api:
        base = str(api.client.base_url)
        async with httpx.AsyncClient(base_url=base, timeout=10) as other:
            opened: list[Any] = []
            try:
                for _ in range(5):
                    cm = api.client.stream("GET", "/api/v1/events")
                    r = await cm.__aenter__()
                    opened.append(cm)
                    assert r.status_code == 200
                # The sixth from the same address is refused.
                refused = await api.client.get("/api/v1/events")
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "7"
                assert "OBT_API__EVENTS__MAX_STREAMS_PER_CLIENT" in refused.json()["detail"]
                assert api.state.bus.streams.total == 5
                # Another address (simulated: the slot table is keyed by address) takes the
                # rest of the total.
                api.state.bus.streams.by_client["127.0.0.9"] = 3
                api.state.bus.streams.total += 3
                total = await other.get("/api/v1/events")
                assert total.status_code == 429
                assert "OBT_API__EVENTS__MAX_STREAMS)" in total.json()["detail"]
                api.state.bus.streams.give("127.0.0.9")
                api.state.bus.streams.give("127.0.0.9")
                api.state.bus.streams.give("127.0.0.9")
            finally:
                for cm in opened:
                    await cm.__aexit__(None, None, None)
            # Closed streams give their slots back.
            for _ in range(200):
                if api.state.bus.streams.total == 0:
                    break
                await asyncio.sleep(0.05)
            assert api.state.bus.streams.total == 0
            assert api.state.bus.streams.by_client == {}
            got = await asyncio.wait_for(read_stream(api, 1, last_event_id="x"), 10)
            assert got[0][1]["type"] == "resync"
