"""Does the heartbeat fast path still pay? The same heartbeat, in process (no network, no
uvicorn), through the app's dispatcher (the fast path) and through FastAPI's full stack (the
documented route), both ending in the one handler `answer_heartbeat`.

    .venv/bin/python bench/heartbeat_paths.py [--count 3000] [--runs 3]

SQLite in a temporary directory; a heartbeat that carries nothing new touches memory only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.api.conftest import make_settings, running_api
from tests.api.test_agents import enroll


async def rate(app: Any, scope: dict[str, Any], body: bytes, count: int) -> float:
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    started = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - started
    if statuses != {200}:
        raise SystemExit(f"unexpected answers: {sorted(statuses)}")
    return count / elapsed


async def main(count: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_api(make_settings(f"sqlite+aiosqlite:///{tmp}/bench.db")) as api:
            name, auth = await enroll(api, "bench-host")
            body = b'{"digest":"' + b"0" * 64 + b'"}'
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": f"/api/v1/agents/{name}/heartbeat",
                "raw_path": f"/api/v1/agents/{name}/heartbeat".encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [
                    (b"authorization", auth["Authorization"].encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
                "client": ("127.0.0.1", 50000),
                "server": ("obt.test", 80),
            }
            paths = (("fast path", api.app), ("full stack", api.app.full_stack))  # type: ignore[attr-defined]
            medians = {}
            for label, app in paths:
                figures = [await rate(app, scope, body, count) for _ in range(runs)]
                medians[label] = statistics.median(figures)
                shown = " / ".join(f"{f:,.0f}" for f in figures)
                print(f"{label:10}: {medians[label]:,.0f} heartbeats/s median ({shown})")
            ratio = medians["fast path"] / medians["full stack"]
            print(f"fast path / full stack: {ratio:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="heartbeats per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per path")
    args = parser.parse_args()
    asyncio.run(main(args.count, args.runs))
