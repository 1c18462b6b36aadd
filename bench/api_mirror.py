"""Mirror lag: an OllamaNode watch event -> its row committed (and announced) by the API.

    .venv/bin/python bench/api_mirror.py              # PostgreSQL started here (as tests/api does)
    .venv/bin/python bench/api_mirror.py --sqlite     # SQLite instead
    .venv/bin/python bench/api_mirror.py --nodes 500 --updates 2000

The Kubernetes API test server (tests/support) runs in a thread; the API (cluster mode, leader)
runs in this process. Each update is a status merge patch of one node (its loaded model changes),
written at the server with the server's own store, paced at --rate per second. Two figures:

- end to end: the patch is stored at the server -> the row's `node.upserted` event is delivered
  after commit (SQLite: in-process bus; PostgreSQL: NOTIFY inside the transaction, so LISTEN sees
  it only after commit). Includes the watch stream, JSON parsing, the upsert and the commit.
- in process: the watch read returned -> the batch's transaction committed (Mirror.stats.lag_s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from record import write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NODE = ("obt.dev/v1alpha1", "OllamaNode")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def run(url: str, nodes: int, updates: int, rate: float) -> None:
    from obt.api.app import create_app
    from obt.api.fake import fake_status
    from obt.api.settings import ApiSettings
    from tests.support.fixtures import OLLAMANODE_CRD, ServerThread
    from tests.support.kube_api_server import KubeApiServer

    runner = ServerThread(KubeApiServer())
    kube = runner.start()
    tmp = tempfile.mkdtemp(prefix="obt-bench-mirror-")
    kube.write_kubeconfig(f"{tmp}/kubeconfig")
    kube.load_crds([OLLAMANODE_CRD])
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "obt"}})
    for i in range(nodes):
        name = f"bench-{i:05d}"
        kube.create(
            {
                "apiVersion": NODE[0],
                "kind": NODE[1],
                "metadata": {"name": name},
                "spec": {"source": "daemonset", "nodeName": name},
            }
        )
        kube.patch(*NODE, name, {"status": fake_status(i, models=20)}, subresource="status")
    settings = ApiSettings(  # type: ignore[call-arg]
        _env_file=None,
        database={"url": url},
        api={"cluster": {"enabled": True, "leader_lease_seconds": 15}},
        kube={"kubeconfig": kube.kubeconfig, "identity": "bench"},
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            state = app.state.obt
            t0 = time.perf_counter()
            while not (state.mirror.elector.is_leader and state.mirror.mirror.synced):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            print(f"initial list of {nodes} nodes mirrored in {time.perf_counter() - t0:.2f} s")
            sent: dict[tuple[str, str], float] = {}
            arrived: dict[tuple[str, str], float] = {}
            async with state.bus.subscribe() as queue:

                async def collect() -> None:
                    while True:
                        event = await queue.get()
                        if event.get("type") == "node.upserted":
                            key = (event["name"], event.get("resourceVersion"))
                            arrived[key] = time.perf_counter()

                collector = asyncio.create_task(collect())
                state.mirror.mirror.stats.lag_s.clear()
                for n in range(updates):
                    i = n % nodes
                    name = f"bench-{i:05d}"
                    status = fake_status(i, models=20, variant=n % 3 + 1)
                    status["hardware"]["memory"]["availableBytes"] = (n + 1) * 2**20  # a change
                    stamp = time.perf_counter()
                    obj = await asyncio.to_thread(
                        kube.patch, *NODE, name, {"status": status}, subresource="status"
                    )
                    sent[(name, obj["metadata"]["resourceVersion"])] = stamp
                    await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - stamp)))
                deadline = time.monotonic() + 30
                while not sent.keys() <= arrived.keys() and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                collector.cancel()
            missing = len(sent.keys() - arrived.keys())
            lags = [arrived[k] - t for k, t in sent.items() if k in arrived]
            inproc = list(state.mirror.mirror.stats.lag_s)
    finally:
        runner.stop()
    ms = [x * 1000 for x in lags]
    ip = [x * 1000 for x in inproc]
    print(
        f"mirror lag, watch event -> committed row ({updates} updates at {rate:.0f}/s, "
        f"{nodes} nodes x 20 models):\n"
        f"  end to end  p50 {pct(ms, 0.5):.1f} ms  p99 {pct(ms, 0.99):.1f} ms  "
        f"mean {statistics.mean(ms):.1f} ms\n"
        f"  in process  p50 {pct(ip, 0.5):.1f} ms  p99 {pct(ip, 0.99):.1f} ms  "
        f"({len(ip)} batches)\n"
        f"  updates never committed: {missing}"
    )
    write_result(
        "api_mirror",
        {"nodes": nodes, "updates": updates, "rate": rate, "database": url.split("://")[0]},
        {
            "endToEndP50Ms": round(pct(ms, 0.5), 2),
            "endToEndP99Ms": round(pct(ms, 0.99), 2),
            "endToEndMeanMs": round(statistics.mean(ms), 2),
            "inProcessP50Ms": round(pct(ip, 0.5), 2),
            "inProcessP99Ms": round(pct(ip, 0.99), 2),
            "batches": len(ip),
            "updatesNeverCommitted": missing,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="updates per second")
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.sqlite:
            url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='obt-bench-')}/obt.db"
        else:
            from tests.api.pg import postgres_server

            url = stack.enter_context(postgres_server())
        print(f"database: {url.split('://')[0]}")
        asyncio.run(run(url, args.nodes, args.updates, args.rate))


if __name__ == "__main__":
    main()
