"""API benchmarks: list latency at 5,000 nodes x 50 models, heartbeat ingest, (mirror lag).

    .venv/bin/python bench/api.py                     # PostgreSQL started here (as tests/api does)
    .venv/bin/python bench/api.py --sqlite            # SQLite instead
    .venv/bin/python bench/api.py --baseline HEAD~3   # also run that commit's API, side by side
    .venv/bin/python bench/api.py --nodes 1000 --heartbeats 20000

Every server under test runs as `uvicorn` in a subprocess on its own database, seeded with the
same rows. With --baseline the API of another commit (extracted with `git archive`) runs next to
the working tree's, and every measurement alternates between the two, so a noisy shared machine
hurts both alike.

Heartbeat ingest mirrors the reference measurement (the original OBT server: ~1,950
heartbeats/s on this 2-core machine, 1,000 clients, 50 concurrent senders on the same machine).
The senders are 50 keep-alive HTTP/1.1 connections in this process written directly on asyncio
(pre-encoded requests, Content-Length framing) so that the client costs little of the two cores;
`--client aiohttp` uses aiohttp instead. The server's and the client's CPU use are printed so a
client-bound figure is visible as one.
"""

from __future__ import annotations

import sys

# bench/ holds scripts named like standard modules (operator.py): keep it off the import path.
if sys.path and sys.path[0] == __import__("os").path.dirname(__file__):
    sys.path.pop(0)

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.record import write_result  # noqa: E402

REFERENCE_HEARTBEATS_PER_S = 1950
PACKAGES = ("api", "core", "agent", "operator")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


# -- seeding ------------------------------------------------------------------------------------
async def seed(url: str, nodes: int, models: int) -> float:
    """Fill `url` (schema already migrated by its server) with the rows the store would write.

    The rows come from the store's own derivation (`_derive`), inserted in bulk: the store's
    per-node upsert path (read prior row, compare, write, announce) is what the API measures
    elsewhere, and costs ~15 ms a node, too slow to seed 5,000 nodes repeatedly.
    """
    from sqlalchemy import MetaData, insert, text

    from obt.api.db.engine import make_engine
    from obt.api.db.tables import (
        Node,
        NodeConditionEvent,
        NodeGpu,
        NodeLabel,
        NodeLoadedModel,
        NodeModel,
    )
    from obt.api.fake import fake_name, fake_status
    from obt.api.nodes.store import NodeRecord, _derive, utcnow

    engine = make_engine(url)
    # A baseline server's schema may lack columns this tree's tables have: insert into its own
    # tables, reflected from its database (the columns it lacks are left out of the rows).
    meta = MetaData()
    async with engine.connect() as conn:
        await conn.run_sync(meta.reflect)
    t0 = time.perf_counter()
    batch = 500
    for start in range(0, nodes, batch):
        rows: dict[Any, list[dict[str, Any]]] = {
            t: []
            for t in (Node, NodeModel, NodeLoadedModel, NodeGpu, NodeLabel, NodeConditionEvent)
        }
        for i in range(start, min(nodes, start + batch)):
            record = NodeRecord(
                name=fake_name(i, "bench"),
                spec={"source": "daemonset"},
                status=fake_status(i, models=models, phase="Ready" if i % 10 else "NotReady"),
                labels={"zone": f"zone-{i % 3}"},
            )
            now = utcnow()
            d = _derive(record, now)
            rows[Node].append({**d.values, "phase_since": now, "created_at": now})
            rows[NodeModel] += d.models
            rows[NodeLoadedModel] += d.loaded
            rows[NodeGpu] += d.gpus
            rows[NodeLabel] += [
                {"node_name": record.name, "key": k, "value": v} for k, v in record.labels.items()
            ]
            ready = next((c for c in d.status.conditions if c.type == "Ready"), None)
            rows[NodeConditionEvent].append(
                {
                    "node_name": record.name,
                    "phase": d.values["phase"],
                    "reason": ready.reason if ready else "",
                    "message": ready.message if ready else "",
                    "at": now,
                }
            )
        async with engine.begin() as conn:
            for table, values in rows.items():
                if values:
                    own = meta.tables[table.__tablename__]
                    values = [{k: v for k, v in row.items() if k in own.c} for row in values]
                    await conn.execute(insert(own), values)
    async with engine.begin() as conn:
        # What autovacuum does shortly after a bulk load on PostgreSQL.
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return time.perf_counter() - t0


def _a_model() -> str:
    from obt.api.fake import fake_report

    return fake_report(0, models=50).ollama.models[0].name


# -- servers ------------------------------------------------------------------------------------
@dataclass
class Server:
    label: str
    base: str
    proc: subprocess.Popen[bytes]

    def cpu_s(self) -> float:
        """User + system CPU seconds the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(
    label: str, url: str, admin: str, port: int, stack: ExitStack, src: Path | None
) -> Server:
    env = {
        **os.environ,
        "OBT_DATABASE__URL": url,
        "OBT_API__ADMIN_TOKEN": admin,
        "OBT_API__DEMO": "true",  # store writes go through POST /api/v1/admin/seed
        "OBT_API__AUTH__ANONYMOUS_READ": "true",  # reads as before (figures comparable)
        "OBT_API__RATE_LIMIT__PER_TOKEN_PER_MINUTE": "0",
        "OBT_API__RATE_LIMIT__PER_IP_PER_MINUTE": "0",
        "OBT_API__RATE_LIMIT__ENROLL_PER_IP_PER_MINUTE": "0",
        "OBT_LOG__LEVEL": "WARNING",
    }
    if src is not None:
        # The baseline's packages shadow the editable installs of the working tree.
        env["PYTHONPATH"] = os.pathsep.join(str(src / p) for p in PACKAGES)
    code = (
        "import uvicorn; from obt.api.app import create_app; from obt.api.settings import ApiSettings;"
        f"uvicorn.run(create_app(ApiSettings()), host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=src or ROOT)
    stack.callback(lambda: (proc.terminate(), proc.wait(10)))
    import httpx

    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return Server(label, base, proc)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{label} server did not start")


def extract(ref: str, stack: ExitStack) -> Path:
    out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="obt-baseline-")))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, *PACKAGES], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


# -- node writes through the store ---------------------------------------------------------------
async def store_writes(servers: list[Server], admin: str, nodes: int) -> dict[str, list[float]]:
    """Nodes/s written by each server's own store (POST /api/v1/admin/seed, `nodes` x 50 models):
    new nodes, the same nodes with other loaded models (a real change), the same again (no
    change). Alternates between the servers phase by phase."""
    import aiohttp

    out: dict[str, list[float]] = {s.label: [] for s in servers}
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for variant in (0, 1, 1):
            for s in servers:
                body = {"count": nodes, "models": 50, "prefix": "store", "variant": variant}
                t0 = time.perf_counter()
                async with http.post(
                    s.base + "/api/v1/admin/seed",
                    json=body,
                    headers={"Authorization": f"Bearer {admin}"},
                ) as r:
                    got = await r.json()
                    assert r.status == 200, got
                out[s.label].append(nodes / (time.perf_counter() - t0))
    return out


# -- list latency -------------------------------------------------------------------------------
async def list_latency(
    servers: list[Server], rounds: int, admin: str
) -> dict[str, dict[str, tuple[float, float, int]]]:
    import aiohttp

    queries: dict[str, Any] = {
        "list (page 1, sort name)": {"limit": "50"},
        "search 'llama' + filter gpuVendor=nvidia, sort -vramFree": {
            "search": "llama",
            "gpuVendor": "nvidia",
            "sort": "-vramFree",
            "limit": "50",
        },
        # Before each of these requests (untimed) 10 nodes are written through the server's own
        # store (other loaded models and labels): what a query costs when the fleet changed
        # since the previous one, as it does with the mirror writing continuously.
        "same search, 10 nodes written since the last query": "changed",
        "same search, 500 nodes written since the last query": "changed-500",
        "filter hasModel + phase=Ready + label": {
            "hasModel": _a_model(),
            "phase": "Ready",
            "label": "zone=zone-1",
            "limit": "50",
        },
        "fleet summary": None,
    }
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    async with aiohttp.ClientSession() as http:
        for label, params in queries.items():
            path = "/api/v1/fleet/summary" if params is None else "/api/v1/nodes"
            times: dict[str, list[float]] = {s.label: [] for s in servers}
            bodies: dict[str, Any] = {}
            changes = 0
            if isinstance(params, str) and params.startswith("changed"):
                changes = int(params.partition("-")[2] or 10)
                params = queries["search 'llama' + filter gpuVendor=nvidia, sort -vramFree"]
            for n in range(rounds if changes <= 10 else max(10, rounds // 10)):
                query = params
                for s in servers:  # alternate, so load spikes hit every server alike
                    if changes:
                        body = {"count": changes, "models": 50, "prefix": "bench", "variant": n % 5}
                        async with http.post(
                            s.base + "/api/v1/admin/seed",
                            json=body,
                            headers={"Authorization": f"Bearer {admin}"},
                        ) as r:
                            assert r.status == 200, await r.text()
                    t0 = time.perf_counter()
                    async with http.get(s.base + path, params=query) as r:
                        body = await r.json()
                        assert r.status == 200, body
                    times[s.label].append((time.perf_counter() - t0) * 1000)
                    bodies[s.label] = body
            if len(servers) > 1:
                a, b = (_comparable(bodies[s.label]) for s in servers[:2])
                assert a == b, f"{label}: responses differ between servers"
            out[label] = {
                s.label: (
                    pct(times[s.label], 0.5),
                    pct(times[s.label], 0.99),
                    bodies[s.label].get("total", bodies[s.label].get("nodes", 0)),
                )
                for s in servers
            }
    return out


def _comparable(body: Any) -> Any:
    """A response without the times that differ between two identically seeded databases."""
    if isinstance(body, dict):
        return {
            k: _comparable(v)
            for k, v in body.items()
            if k not in ("createdAt", "updatedAt", "phaseSince", "removedLastHour")
        }
    if isinstance(body, list):
        return [_comparable(v) for v in body]
    return body


# -- heartbeats ---------------------------------------------------------------------------------
async def enroll(server: Server, admin: str, clients: int) -> tuple[list[tuple[str, str]], str]:
    """Enroll `clients` agents, each reporting once; (node name, token) pairs and the digest."""
    import aiohttp

    from obt.api.fake import fake_report

    headers = {"Authorization": f"Bearer {admin}"}
    report = fake_report(1).model_dump(mode="json", by_alias=True)
    digest = fake_report(1).digest()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=20)) as http:
        async with http.post(
            server.base + "/api/v1/enrollment-tokens", json={}, headers=headers
        ) as r:
            token = (await r.json())["token"]

        async def one(i: int) -> tuple[str, str]:
            async with http.post(
                server.base + "/api/v1/agents/enroll",
                json={"enrollmentToken": token, "hostId": f"hb-{i:05d}"},
            ) as r:
                body = await r.json()
            async with http.put(
                f"{server.base}/api/v1/agents/{body['nodeName']}/report",
                json=report,
                headers={"Authorization": f"Bearer {body['token']}"},
            ) as r:
                assert r.status == 200, await r.text()
            return body["nodeName"], body["token"]

        creds: list[tuple[str, str]] = []
        for start in range(0, clients, 20):
            creds += await asyncio.gather(*(one(i) for i in range(start, min(clients, start + 20))))
    return creds, digest


class _Http1(asyncio.Protocol):
    """One keep-alive connection: send a pre-encoded request, wait for the whole response."""

    def __init__(self) -> None:
        self.buf = b""
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        body = self.buf[end + 4 : end + 4 + length]
        self.buf = self.buf[end + 4 + length :]
        assert self.waiter is not None
        self.waiter.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("closed"))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


# What a heartbeat of an 8-GPU host carries with --telemetry (obt.core.telemetry's wire form).
TELEMETRY = {
    "gpus": [
        {
            "index": i,
            "utilizationPercent": 87.5,
            "temperatureC": 71.0,
            "powerW": 612.4,
            "memoryUsedBytes": 61_203_283_968,
        }
        for i in range(8)
    ]
}


async def heartbeats(
    server: Server,
    creds: list[tuple[str, str]],
    digest: str,
    total: int,
    senders: int,
    client: str,
    telemetry: bool = False,
) -> dict[str, float]:
    import json

    payload: dict[str, Any] = {"digest": digest}
    if telemetry:
        payload["telemetry"] = TELEMETRY
    body = json.dumps(payload).encode()
    host, port = server.base.removeprefix("http://").split(":")
    latencies: list[float] = []
    counter = iter(range(total))
    expected = b'{"reportNeeded":false,"workGeneration":'  # then the number and '}'

    if client == "raw":
        requests = [
            (
                f"POST /api/v1/agents/{name}/heartbeat HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            for name, token in creds
        ]
        loop = asyncio.get_running_loop()
        conns = [(await loop.create_connection(_Http1, host, int(port)))[1] for _ in range(senders)]

        async def sender(conn: _Http1) -> None:
            for n in counter:
                t0 = time.perf_counter()
                status, reply = await conn.request(requests[n % len(requests)])
                latencies.append((time.perf_counter() - t0) * 1000)
                assert status == 200 and reply.startswith(expected), (status, reply)

        workers = [sender(c) for c in conns]
    else:
        import aiohttp

        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=senders))

        async def sender_aiohttp() -> None:
            for n in counter:
                name, token = creds[n % len(creds)]
                t0 = time.perf_counter()
                async with http.post(
                    f"{server.base}/api/v1/agents/{name}/heartbeat",
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                ) as r:
                    reply = await r.read()
                latencies.append((time.perf_counter() - t0) * 1000)
                assert r.status == 200 and reply.startswith(expected), (r.status, reply)

        workers = [sender_aiohttp() for _ in range(senders)]
    cpu_server, cpu_client, t0 = server.cpu_s(), time.process_time(), time.perf_counter()
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - t0
    cpu_server, cpu_client = server.cpu_s() - cpu_server, time.process_time() - cpu_client
    if client == "raw":
        for c in conns:
            c.transport.close()
    else:
        await http.close()
    return {
        "rate": total / elapsed,
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "server_cpu": cpu_server / elapsed,
        "client_cpu": cpu_client / elapsed,
    }


async def heartbeat_runs(
    servers: list[Server], admin: str, args: argparse.Namespace
) -> dict[str, list[dict[str, float]]]:
    enrolled = {s.label: await enroll(s, admin, args.clients) for s in servers}
    runs: dict[str, list[dict[str, float]]] = {s.label: [] for s in servers}
    for _ in range(args.hb_runs):
        for s in servers:  # alternate, so load spikes hit every server alike
            creds, digest = enrolled[s.label]
            runs[s.label].append(
                await heartbeats(
                    s, creds, digest, args.heartbeats, args.senders, args.client, args.telemetry
                )
            )
    return runs


# -- main ---------------------------------------------------------------------------------------
def main() -> None:
    from tests.api.pg import free_port, postgres_server

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    ap.add_argument("--baseline", metavar="REF", help="also run the API of this git commit")
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=200, help="requests per list query")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--heartbeats", type=int, default=30000, help="heartbeats per run")
    ap.add_argument("--hb-runs", type=int, default=3, help="heartbeat runs per server")
    ap.add_argument("--senders", type=int, default=50)
    ap.add_argument("--client", choices=("raw", "aiohttp"), default="raw")
    ap.add_argument(
        "--telemetry",
        action="store_true",
        help="heartbeats carry the live figures of 8 GPUs (as agents on GPU hosts send them)",
    )
    ap.add_argument("--skip-lists", action="store_true")
    ap.add_argument("--skip-heartbeats", action="store_true")
    ap.add_argument(
        "--store-nodes",
        type=int,
        default=1000,
        help="nodes written through each server's store at the end (0: skip)",
    )
    args = ap.parse_args()
    # A terminated run still stops its servers and PostgreSQL (ExitStack unwinds on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    admin = "bench-admin-token-0123456789"
    with ExitStack() as stack:
        labels = ["new"] if args.baseline is None else ["baseline", "new"]
        urls: dict[str, str] = {}
        if args.sqlite:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            urls = {label: f"sqlite+aiosqlite:///{tmp}/{label}.db" for label in labels}
        else:
            import psycopg

            first = stack.enter_context(postgres_server())
            for label in labels:
                db = f"obt_{label}"
                with psycopg.connect(
                    first.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0]
                    + "/postgres",
                    autocommit=True,
                ) as conn:
                    conn.execute(f"CREATE DATABASE {db}")
                urls[label] = first.rsplit("/", 1)[0] + "/" + db
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        figures: dict[str, Any] = {"database": backend, "seed": {}}
        servers = []
        for label in labels:
            src = extract(args.baseline, stack) if label == "baseline" else None
            server = start_server(label, urls[label], admin, free_port(), stack, src)
            took = asyncio.run(seed(urls[label], args.nodes, args.models))
            print(
                f"{backend} [{label}]: seeded {args.nodes} nodes x {args.models} models in "
                f"{took:.1f}s ({args.nodes / took:,.0f} nodes/s, bulk insert)"
            )
            figures["seed"][label] = {"seconds": round(took, 2)}
            servers.append(server)
        load = os.getloadavg()
        print(
            f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
        )
        if args.baseline:
            print(
                f"baseline = {args.baseline}, new = working tree; figures: median of alternating runs"
            )
        if not args.skip_lists:
            results = asyncio.run(list_latency(servers, args.rounds, admin))
            figures["lists"] = {
                label: {
                    s.label: {
                        "p50Ms": round(per[s.label][0], 2),
                        "p99Ms": round(per[s.label][1], 2),
                        "matches": per[s.label][2],
                    }
                    for s in servers
                }
                for label, per in results.items()
            }
            for label, per in results.items():
                for s in servers:
                    p50, p99, total = per[s.label]
                    print(
                        f"  {label:58s} [{s.label:8s}] p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({total} matches)"
                    )
        if not args.skip_heartbeats:
            runs = asyncio.run(heartbeat_runs(servers, admin, args))
            figures["heartbeats"] = {
                s.label: {
                    "perSecondMedian": round(
                        statistics.median(r["rate"] for r in runs[s.label]), 1
                    ),
                    "runs": [{k: round(v, 4) for k, v in r.items()} for r in runs[s.label]],
                    # A figure measured on another machine: a ratio to it is not a side-by-side comparison.
                    "referencePerSecondMeasuredElsewhere": REFERENCE_HEARTBEATS_PER_S,
                }
                for s in servers
            }
            load = os.getloadavg()
            print(
                f"machine: load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} after heartbeats"
            )
            for s in servers:
                got = runs[s.label]
                rate = statistics.median(r["rate"] for r in got)
                each = ", ".join(f"{r['rate']:,.0f}" for r in got)
                print(
                    f"  heartbeats [{s.label:8s}]: {rate:,.0f}/s median of "
                    f"{each} "
                    f"({args.clients} clients, {args.senders} concurrent senders, {args.client} client, "
                    f"same machine) p50 {statistics.median(r['p50'] for r in got):.1f} ms "
                    f"p99 {statistics.median(r['p99'] for r in got):.1f} ms; "
                    f"server CPU {statistics.median(r['server_cpu'] for r in got):.0%}, "
                    f"client CPU {statistics.median(r['client_cpu'] for r in got):.0%}; "
                    f"{rate / REFERENCE_HEARTBEATS_PER_S:.2f}x the {REFERENCE_HEARTBEATS_PER_S:,}/s "
                    "reference, which was measured elsewhere (not side by side)"
                )

        if args.store_nodes:
            rates = asyncio.run(store_writes(servers, admin, args.store_nodes))
            figures["storeWritesPerSecond"] = {
                s.label: dict(
                    zip(
                        ("new", "changed", "unchanged"),
                        (round(x, 1) for x in rates[s.label]),
                        strict=True,
                    )
                )
                for s in servers
            }
            load = os.getloadavg()
            print(f"machine: load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
            for s in servers:
                new, changed, same = rates[s.label]
                print(
                    f"  store writes [{s.label:8s}] ({args.store_nodes} nodes x 50 models, one "
                    f"admin seed each): new {new:,.0f}/s, changed {changed:,.0f}/s, "
                    f"unchanged {same:,.0f}/s"
                )
        write_result("api", vars(args), figures)


if __name__ == "__main__":
    main()
