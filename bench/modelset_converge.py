"""Benchmark: a model set over N simulated nodes converges (issue 15, must show 6).

    .venv/bin/python bench/modelset_converge.py [--sizes 1000] [--max-pulls 10%]

Three processes, as deployed: the in-repo Kubernetes API test server (a thread of this process,
which also plays the kubelet: Nodes and Ready agent pods), the real operator (`python -m
obt.operator`, its own process, so its CPU time and RSS are its own), and the agents (a child
process running N real `obt.agent.worker.Worker`s in one asyncio loop, with one shared KubeClient).
Each Worker plans with `obt.core.actions.node_steps`, pulls from an in-process fake Ollama that
pulls instantly (progress lines, then success, then the model is listed), and writes its node's
status with the real budget (at most one write per 5 s while work runs). Its write carries
`status.activity` and `status.ollama.models`, as the agent's report does when a step ends.

Stand-in, said plainly: the model sets reach the Workers through one shared list request per
second (not N watches), so the API server is spared N watch streams here.

Prints and records (bench/results/*-modelset_converge.json): seconds from creating the set to
READY N; OllamaNode status patches per node (mean, max) and the set's status writes (total, per
second, most in any one second), both from the server's request log; the operator's CPU seconds
during convergence and its peak RSS (psutil, sampled every 0.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from record import write_result

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.operator.support import NS, daemonset_node  # noqa: E402
from tests.support.fixtures import OLLAMANODE_CRD, ServerThread  # noqa: E402
from tests.support.kube_api_server import KubeApiServer  # noqa: E402

ONODE = ("obt.dev/v1alpha1", "OllamaNode")
OMSET = ("obt.dev/v1alpha1", "OllamaModelSet")
POOL = {"obt.dev/pool": "bench"}
MODEL = "llama3.2:latest"
DIGEST = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"
SIZE = 2019393189
AGENT_UA = "obt-agent-bench"
LIMIT_SECONDS = 900.0


# --- the agents' process --------------------------------------------------------------------


class FakeOllama:
    """What a Worker asks of its node's Ollama (obt.agent.ollama_ops.OllamaOps), in memory: a
    pull streams three progress lines and succeeds at once."""

    def __init__(self) -> None:
        self.models: dict[str, str | None] = {}
        self.pulls = 0

    async def pull(self, model: str, progress: Any) -> Any:
        from obt.agent.ollama_ops import PullProgress

        state = PullProgress()
        for line in (
            {"status": "pulling manifest"},
            {"status": f"pulling {DIGEST[:12]}", "digest": f"sha256:{DIGEST}", "total": SIZE},
            {
                "status": f"pulling {DIGEST[:12]}",
                "digest": f"sha256:{DIGEST}",
                "total": SIZE,
                "completed": SIZE,
            },
            {"status": "success"},
        ):
            state.feed(line)
            progress(state)
            await asyncio.sleep(0)
        self.models[model] = DIGEST
        self.pulls += 1
        return state

    async def installed(self) -> dict[str, str | None]:
        return dict(self.models)

    async def delete(self, model: str) -> None:
        self.models.pop(model, None)

    async def load(self, model: str, keep_alive: str | None) -> None:
        return None

    async def unload(self, model: str) -> None:
        return None

    async def close(self) -> None:
        return None


def model_line(name: str, digest: str | None) -> str:
    """One `ollama list` line, as the agent reports it in status.ollama.models."""
    return f"{name} {(digest or '?')[:12]} {SIZE} llama 3.2B Q4_K_M 2024-09-25T00:00:00Z"


async def agents_main(kubeconfig: str, names: list[str]) -> None:
    from obt.agent.worker import Worker
    from obt.core.kube import KubeClient, load_config
    from obt.core.models import GROUP, PLURAL, VERSION
    from obt.core.models.actions import OllamaModelSet
    from obt.core.models.activity import Activity

    kube = KubeClient(load_config(kubeconfig), AGENT_UA, 30.0, retries=3, connections=50)
    workers: list[Worker] = []

    def sink_for(name: str, ollama: FakeOllama) -> Any:
        async def sink(activity: list[Activity]) -> None:
            status = {
                "activity": [a.to_wire() for a in activity],
                "ollama": {
                    "reachable": True,
                    "version": "0.6.0",
                    "models": [model_line(m, d) for m, d in sorted(ollama.models.items())],
                },
            }
            await kube.merge_patch_custom_status(GROUP, VERSION, PLURAL, name, {"status": status})

        return sink

    for name in names:
        ollama = FakeOllama()
        worker = Worker(ollama, name, sink_for(name, ollama))  # type: ignore[arg-type]
        worker.set_work(POOL, [], [])
        workers.append(worker)

    async def deliver_work() -> None:
        """The stand-in for each agent's watch of model sets: one list a second, for all."""
        seen = None
        while True:
            try:
                page = await kube.request("GET", f"/apis/{GROUP}/{VERSION}/ollamamodelsets")
            except Exception as error:  # keep delivering; the next second tries again
                print(f"agents: cannot list model sets: {error}", file=sys.stderr)
                await asyncio.sleep(1.0)
                continue
            version = [(i["metadata"].get("resourceVersion")) for i in page.get("items") or []]
            if version != seen:
                seen = version
                sets = [OllamaModelSet.model_validate(i) for i in page.get("items") or []]
                for worker in workers:
                    worker.set_work(POOL, [], sets)
                    worker.wakeup.set()
            await asyncio.sleep(1.0)

    async def drive(worker: Worker) -> None:
        while True:
            await worker.step()
            due = worker.next_due() - time.monotonic()
            worker.wakeup.clear()
            # Idle: wait for new work (or 5 s); busy: until the next write is due (<= 1 s).
            wait = min(max(due, 0.05), 1.0 if worker.running or worker.dirty else 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.wakeup.wait(), wait)

    try:
        await asyncio.gather(deliver_work(), *(drive(w) for w in workers))
    finally:
        await kube.close()


# --- the orchestration ------------------------------------------------------------------------


def populate(api: KubeApiServer, n: int) -> list[str]:
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    names = [f"gpu-{i:05d}" for i in range(n)]
    for name in names:
        daemonset_node(api, name)  # Node, Ready agent pod, OllamaNode
        api.patch(*ONODE, name, {"metadata": {"labels": POOL}})
    return names


def set_status(api: KubeApiServer) -> dict[str, Any]:
    obj = api.get(*OMSET, "bench")
    return {} if obj is None else obj.get("status") or {}


def run(size: int, max_pulls: str) -> dict[str, Any]:
    runner = ServerThread(KubeApiServer())
    api = runner.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        api.load_crds(
            [
                OLLAMANODE_CRD,
                REPO / "crds" / "ollamatask.yaml",
                REPO / "crds" / "ollamamodelset.yaml",
            ]
        )
        t = time.monotonic()
        names = populate(api, size)
        print(f"\n== {size} OllamaNodes == populated in {time.monotonic() - t:.1f}s")
        folder = Path(tempfile.mkdtemp())
        kubeconfig = api.write_kubeconfig(folder / "kubeconfig")
        (folder / "names").write_text("\n".join(names))
        env = {
            **os.environ,
            "OBT_KUBE__NAMESPACE": NS,
            "OBT_KUBE__KUBECONFIG": kubeconfig,
            "OBT_OPERATOR__LISTEN": "127.0.0.1:0",
            "OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECONDS": "3600",
            "OBT_LOG__LEVEL": "WARNING",
        }
        operator = subprocess.Popen(
            [sys.executable, "-m", "obt.operator", "--identity", "bench"], env=env
        )
        procs.append(operator)
        started = time.monotonic()
        while any(
            (api.get(*ONODE, n) or {}).get("status", {}).get("phase") != "Ready" for n in names
        ):
            time.sleep(0.5)
            if time.monotonic() - started > 300:
                raise SystemExit("the operator did not judge the fleet Ready within 300 s")
        print(f"operator judged all Ready in {time.monotonic() - started:.1f}s")
        agents = subprocess.Popen(
            [sys.executable, __file__, "--agents", kubeconfig, str(folder / "names")],
            env={**os.environ, "PYTHONPATH": str(REPO / "bench")},
        )
        procs.append(agents)
        time.sleep(3.0)  # the agents' loop is up (and idle: no set yet)
        oper = psutil.Process(operator.pid)
        cpu0 = sum(oper.cpu_times()[:2])
        agents_ps = psutil.Process(agents.pid)
        agents_cpu0 = sum(agents_ps.cpu_times()[:2])
        peak_rss = oper.memory_info().rss
        created_wall = time.time()
        created = time.monotonic()
        api.create(
            {
                "apiVersion": "obt.dev/v1alpha1",
                "kind": "OllamaModelSet",
                "metadata": {"name": "bench"},
                "spec": {
                    "models": [{"name": "llama3.2"}],
                    "nodeSelector": {"matchLabels": POOL},
                    "maxConcurrentPulls": max_pulls,
                },
            }
        )
        last_print = 0.0
        max_admitted = 0
        while True:
            status = set_status(api)
            max_admitted = max(max_admitted, len(status.get("admitted") or []))
            peak_rss = max(peak_rss, oper.memory_info().rss)
            elapsed = time.monotonic() - created
            if status.get("ready") == size:
                break
            if elapsed - last_print >= 10:
                last_print = elapsed
                print(
                    f"  {elapsed:5.0f}s ready {status.get('ready', 0)}/{size} "
                    f"pulling {status.get('pulling', 0)} waiting {status.get('waiting', 0)}"
                )
            if elapsed > LIMIT_SECONDS or agents.poll() is not None or operator.poll() is not None:
                raise SystemExit(f"no convergence after {elapsed:.0f}s: {status}")
            time.sleep(0.5)
        converge = time.monotonic() - created
        cpu = sum(oper.cpu_times()[:2]) - cpu0
        agents_cpu = sum(agents_ps.cpu_times()[:2]) - agents_cpu0
        node_writes = collections.Counter(
            w.name
            for w in api.writes(user_agent_contains=AGENT_UA, since=created_wall)
            if w.resource == "ollamanodes" and w.subresource == "status"
        )
        set_records = [
            w
            for w in api.writes(user_agent_contains="obt-operator", since=created_wall)
            if w.resource == "ollamamodelsets" and w.subresource == "status"
        ]
        set_writes = sorted(w.timestamp for w in set_records)
        # The most writes in any window of one second (server-side timestamps: a request the
        # operator sent >= 1 s after the previous one may be logged closer to it under load).
        window = max(
            (sum(1 for u in set_writes if t <= u < t + 1.0) for t in set_writes), default=0
        )
        gaps = [b - a for a, b in itertools.pairwise(set_writes)]
        per_node = [node_writes.get(n, 0) for n in names]
        figures: dict[str, Any] = {
            "nodes": size,
            "maxConcurrentPulls": max_pulls,
            "maxAdmitted": max_admitted,
            "convergeSeconds": round(converge, 1),
            "nodeStatusPatchesPerNodeMean": round(sum(per_node) / size, 2),
            "nodeStatusPatchesPerNodeMax": max(per_node),
            "nodeStatusPatchesPerNodeMin": min(per_node),
            "setStatusWrites": len(set_writes),
            "setStatusWritesPerSecond": round(len(set_writes) / converge, 2),
            "setStatusWritesMaxInAnyOneSecondWindow": window,
            "setStatusWriteMinGapSeconds": round(min(gaps), 3) if gaps else None,
            "setStatusWriteMedianGapSeconds": round(sorted(gaps)[len(gaps) // 2], 3)
            if gaps
            else None,
            "setStatusWriteAnswers": dict(collections.Counter(str(w.status) for w in set_records)),
            "operatorCpuSeconds": round(cpu, 1),
            "operatorPeakRssMiB": round(peak_rss / 2**20, 1),
            "agentsProcessCpuSeconds": round(agents_cpu, 1),
        }
        print(f"READY {size}/{size} {converge:.1f}s after the set was created")
        for key, value in figures.items():
            print(f"  {key}: {value}")
        return figures
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGINT if proc is not procs[0] else signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        runner.stop()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--agents":
        names = Path(sys.argv[3]).read_text().split()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(agents_main(sys.argv[2], names))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000])
    parser.add_argument("--max-pulls", default="10%")
    args = parser.parse_args()
    runs = [run(size, args.max_pulls) for size in args.sizes]
    write_result(
        "modelset_converge",
        {"sizes": args.sizes, "maxConcurrentPulls": args.max_pulls, "agentWriteInterval": 5.0},
        {"bySize": runs},
    )


if __name__ == "__main__":
    main()
