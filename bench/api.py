"""API benchmarks: list latency at 5,000 nodes x 50 models, heartbeat ingest, (mirror lag).

    .venv/bin/python bench/api.py                # PostgreSQL started here (as tests/api does)
    .venv/bin/python bench/api.py --sqlite       # SQLite instead
    .venv/bin/python bench/api.py --nodes 1000 --heartbeats 20000

Heartbeat ingest mirrors the reference measurement (the original OBT server: ~1,950
heartbeats/s on this 2-core machine, 1,000 clients, 50 concurrent senders on the same machine):
the API runs as `uvicorn` in a subprocess, the senders in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REFERENCE_HEARTBEATS_PER_S = 1950


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def seed(url: str, nodes: int, models: int) -> float:
    from obt.api.db.engine import make_engine, make_sessionmaker, migrate
    from obt.api.events.bus import EventBus
    from obt.api.fake import fake_name, fake_status
    from obt.api.nodes.store import NodeRecord, NodeStore

    engine = make_engine(url)
    await migrate(engine)
    store = NodeStore(make_sessionmaker(engine), EventBus())
    t0 = time.perf_counter()
    batch = 250
    for start in range(0, nodes, batch):
        await store.upsert_many(
            NodeRecord(
                name=fake_name(i, "bench"),
                spec={"source": "daemonset"},
                status=fake_status(i, models=models, phase="Ready" if i % 10 else "NotReady"),
                labels={"zone": f"zone-{i % 3}"},
            )
            for i in range(start, min(nodes, start + batch))
        )
    await engine.dispose()
    return time.perf_counter() - t0


def _a_model() -> str:
    from obt.api.fake import fake_report

    return fake_report(0, models=50).ollama.models[0].name


async def list_latency(base: str, rounds: int) -> dict[str, tuple[float, float, int]]:
    import aiohttp

    queries = {
        "list (page 1, sort name)": {"limit": "50"},
        "search 'llama' + filter gpuVendor=nvidia, sort -vramFree": {
            "search": "llama",
            "gpuVendor": "nvidia",
            "sort": "-vramFree",
            "limit": "50",
        },
        "filter hasModel + phase=Ready + label": {
            "hasModel": _a_model(),
            "phase": "Ready",
            "label": "zone=zone-1",
            "limit": "50",
        },
        "fleet summary": None,
    }
    out = {}
    async with aiohttp.ClientSession() as http:
        for label, params in queries.items():
            path = "/api/v1/fleet/summary" if params is None else "/api/v1/nodes"
            times = []
            total = 0
            for _ in range(rounds):
                t0 = time.perf_counter()
                async with http.get(base + path, params=params) as r:
                    body = await r.json()
                    assert r.status == 200, body
                times.append((time.perf_counter() - t0) * 1000)
                total = body.get("total", body.get("nodes", 0))
            out[label] = (pct(times, 0.5), pct(times, 0.99), total)
    return out


async def heartbeats(
    base: str, admin: str, clients: int, total: int, senders: int
) -> tuple[float, float, float]:
    import aiohttp

    from obt.api.fake import fake_report

    headers = {"Authorization": f"Bearer {admin}"}
    conn = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=conn) as http:
        async with http.post(base + "/api/v1/enrollment-tokens", json={}, headers=headers) as r:
            token = (await r.json())["token"]
        creds = []
        report = fake_report(1).model_dump(mode="json", by_alias=True)
        digest = fake_report(1).digest()
        for i in range(clients):
            async with http.post(
                base + "/api/v1/agents/enroll",
                json={"enrollmentToken": token, "hostId": f"hb-{i:05d}"},
            ) as r:
                body = await r.json()
            auth = {"Authorization": f"Bearer {body['token']}"}
            async with http.put(
                f"{base}/api/v1/agents/{body['nodeName']}/report", json=report, headers=auth
            ) as r:
                assert r.status == 200, await r.text()
            creds.append((body["nodeName"], auth))
        latencies: list[float] = []
        counter = iter(range(total))
        payload = {"digest": digest}

        async def sender() -> None:
            for n in counter:
                name, auth = creds[n % clients]
                t0 = time.perf_counter()
                async with http.post(
                    f"{base}/api/v1/agents/{name}/heartbeat", json=payload, headers=auth
                ) as r:
                    await r.read()
                    assert r.status == 200
                latencies.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        elapsed = time.perf_counter() - t0
    return total / elapsed, pct(latencies, 0.5), pct(latencies, 0.99)


def start_server(url: str, admin: str, port: int, stack: ExitStack) -> str:
    env = {
        **os.environ,
        "OBT_DATABASE__URL": url,
        "OBT_API__ADMIN_TOKEN": admin,
        "OBT_API__RATE_LIMIT__PER_TOKEN_PER_MINUTE": "0",
        "OBT_API__RATE_LIMIT__PER_IP_PER_MINUTE": "0",
        "OBT_API__RATE_LIMIT__ENROLL_PER_IP_PER_MINUTE": "0",
        "OBT_LOG__LEVEL": "WARNING",
    }
    code = (
        "import uvicorn; from obt.api.app import create_app; from obt.api.settings import ApiSettings;"
        f"uvicorn.run(create_app(ApiSettings()), host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    stack.callback(lambda: (proc.terminate(), proc.wait(10)))
    import httpx

    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def main() -> None:
    from tests.api.pg import free_port, postgres_server

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=200, help="requests per list query")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--heartbeats", type=int, default=30000)
    ap.add_argument("--senders", type=int, default=50)
    args = ap.parse_args()
    admin = "bench-admin-token-0123456789"
    with ExitStack() as stack:
        if args.sqlite:
            url = (
                f"sqlite+aiosqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/bench.db"
            )
        else:
            url = stack.enter_context(postgres_server())
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        took = asyncio.run(seed(url, args.nodes, args.models))
        print(f"{backend}: seeded {args.nodes} nodes x {args.models} models in {took:.1f}s")
        base = start_server(url, admin, free_port(), stack)
        for label, (p50, p99, total) in asyncio.run(list_latency(base, args.rounds)).items():
            print(f"  {label:58s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({total} matches)")
        rate, p50, p99 = asyncio.run(
            heartbeats(base, admin, args.clients, args.heartbeats, args.senders)
        )
        print(
            f"  heartbeats: {rate:,.0f}/s ({args.clients} clients, {args.senders} concurrent senders, "
            f"same machine) p50 {p50:.1f} ms p99 {p99:.1f} ms; reference {REFERENCE_HEARTBEATS_PER_S:,}/s "
            f"-> {rate / REFERENCE_HEARTBEATS_PER_S:.2f}x"
        )
    _ = statistics


if __name__ == "__main__":
    main()
