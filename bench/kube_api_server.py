"""Benchmark: the test Kubernetes API server holds 5,000 OllamaNodes and serves 100 writes/s while
watchers are attached.

    .venv/bin/python bench/kube_api_server.py [--objects 5000] [--rate 100] [--seconds 10] [--watchers 5]

The server runs in its own process (as in the test suite, where it has its own thread and loop);
this process is the client. Exits non-zero when the target is missed: fewer than 95 % of the
requested writes/s, a write error, or a watcher missing an event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from record import write_result

REPO = Path(__file__).resolve().parents[1]
ONODES = "/apis/obt.dev/v1alpha1/ollamanodes"
MERGE = {"Content-Type": "application/merge-patch+json"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def onode(n: int) -> dict[str, Any]:
    return {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaNode",
        "metadata": {"name": f"node-{n:05d}", "labels": {"rack": f"r{n % 20}"}},
        "spec": {"source": "daemonset", "nodeName": f"node-{n:05d}"},
    }


def start_server(tmp: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "tests.support.kube_api_server",
        "--kubeconfig",
        str(tmp / "kubeconfig"),
        "--crds",
        str(REPO / "crds" / "ollamanode.yaml"),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split()[-1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def fill(session: aiohttp.ClientSession, count: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            t0 = time.perf_counter()
            async with session.post(ONODES, json=onode(n)) as resp:
                assert resp.status == 201, await resp.text()
                await resp.read()
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(16)))
    return time.perf_counter() - started, latencies


async def watch(
    session: aiohttp.ClientSession, rv: str, lags: list[float], counts: list[int], index: int
) -> None:
    url = f"{ONODES}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=600"
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        async for line in resp.content:
            event = json.loads(line)
            if event["type"] != "MODIFIED":
                continue
            sent = event["object"]["metadata"]["annotations"]["bench/sent"]
            lags.append(time.time() - float(sent))
            counts[index] += 1


async def paced_writes(
    session: aiohttp.ClientSession, objects: int, rate: float, seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    started = time.perf_counter()

    async def one(n: int) -> None:
        nonlocal errors
        name = f"node-{random.randrange(objects):05d}"
        patch = {"metadata": {"annotations": {"bench/sent": repr(time.time()), "bench/n": str(n)}}}
        t0 = time.perf_counter()
        async with session.patch(f"{ONODES}/{name}", data=json.dumps(patch), headers=MERGE) as resp:
            await resp.read()
            if resp.status != 200:
                errors += 1
        latencies.append(time.perf_counter() - t0)

    tasks = []
    for n in range(total):
        # Open-loop pacing: a write is due every 1/rate s whatever the previous ones are doing.
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(n)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return latencies, errors, total / elapsed


async def run(args: argparse.Namespace, url: str, pid: int) -> int:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        fill_s, create_lat = await fill(session, args.objects)
        t0 = time.perf_counter()
        async with session.get(ONODES) as resp:
            listed = await resp.json()
        list_s = time.perf_counter() - t0
        assert len(listed["items"]) == args.objects
        t0 = time.perf_counter()
        pages, token = 0, ""
        while True:
            query = f"?limit=500&continue={token}" if token else "?limit=500"
            async with session.get(ONODES + query) as resp:
                page = await resp.json()
            pages += 1
            token = page["metadata"].get("continue", "")
            if not token:
                break
        paged_s = time.perf_counter() - t0

        lags: list[float] = []
        counts = [0] * args.watchers
        watchers = [
            asyncio.ensure_future(
                watch(session, listed["metadata"]["resourceVersion"], lags, counts, i)
            )
            for i in range(args.watchers)
        ]
        await asyncio.sleep(0.5)
        write_lat, errors, achieved = await paced_writes(
            session, args.objects, args.rate, args.seconds
        )
        expected = int(args.rate * args.seconds)
        deadline = time.monotonic() + 10
        while min(counts) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        for w in watchers:
            w.cancel()
        rss = rss_mib(pid)

    ms = 1000.0
    print(f"objects held:              {args.objects}  (server RSS {rss:.0f} MiB)")
    print(
        f"fill (16 concurrent POST): {args.objects / fill_s:.0f} creates/s, "
        f"median {statistics.median(create_lat) * ms:.1f} ms, p99 {pct(create_lat, 0.99) * ms:.1f} ms"
    )
    print(
        f"full LIST of {args.objects}:      {list_s * ms:.0f} ms; paginated (limit=500, {pages} pages) {paged_s * ms:.0f} ms"
    )
    print(
        f"paced writes:              requested {args.rate:.0f}/s for {args.seconds:.0f} s, "
        f"achieved {achieved:.1f}/s (ratio {achieved / args.rate:.3f}), errors {errors}"
    )
    print(
        f"write latency:             median {statistics.median(write_lat) * ms:.1f} ms, "
        f"p95 {pct(write_lat, 0.95) * ms:.1f} ms, p99 {pct(write_lat, 0.99) * ms:.1f} ms"
    )
    delivered = min(counts) / expected if expected else 1.0
    print(
        f"watchers:                  {args.watchers}, events delivered per watcher "
        f"{min(counts)}/{expected} (ratio {delivered:.3f}), "
        f"lag median {statistics.median(lags) * ms:.1f} ms, p99 {pct(lags, 0.99) * ms:.1f} ms"
    )
    ok = achieved >= 0.95 * args.rate and errors == 0 and delivered == 1.0
    print("RESULT:", "PASS" if ok else "FAIL")
    write_result(
        "kube_api_server",
        vars(args),
        {
            "objects": args.objects,
            "serverRssMiB": round(rss, 1),
            "fillCreatesPerSecond": round(args.objects / fill_s, 1),
            "createMedianMs": round(statistics.median(create_lat) * ms, 2),
            "createP99Ms": round(pct(create_lat, 0.99) * ms, 2),
            "listMs": round(list_s * ms, 1),
            "pagedListMs": round(paged_s * ms, 1),
            "pages": pages,
            "writesPerSecondRequested": args.rate,
            "writesPerSecondAchieved": round(achieved, 2),
            "writeErrors": errors,
            "writeMedianMs": round(statistics.median(write_lat) * ms, 2),
            "writeP95Ms": round(pct(write_lat, 0.95) * ms, 2),
            "writeP99Ms": round(pct(write_lat, 0.99) * ms, 2),
            "watchers": args.watchers,
            "eventsDeliveredRatio": round(delivered, 3),
            "watchLagMedianMs": round(statistics.median(lags) * ms, 2),
            "watchLagP99Ms": round(pct(lags, 0.99) * ms, 2),
            "pass": ok,
        },
    )
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--watchers", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            code = asyncio.run(run(args, url, proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)
    sys.exit(code)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(REPO))
    main()
