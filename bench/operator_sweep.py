"""Benchmark: the operator at 1,000 and 5,000 OllamaNodes against the API test server.

    .venv/bin/python bench/operator_sweep.py [--sizes 1000 5000] [--samples 100]

For each size: N Nodes, N agent pods, N DaemonSet OllamaNodes (plus 20 standalone hosts with
heartbeat Leases). The operator runs as its own process (`python -m obt.operator`, as deployed) so
its RSS is its own; the API server runs in a thread of this process, which plays the kubelet and
the API. Prints: time to judge the whole fleet Ready after start, sweep time (mean and max over a
quiet period, from the operator's own /metrics), operator RSS, and detection latency p50/p99
- agent pod NotReady -> OllamaNode NotReady (from the flip),
- heartbeat Lease silent -> NotReady (beyond the NotReady threshold, from the last renewal).
Sweep interval 1 s, standalone threshold 3 s (scaled timings; removal is pushed out of the way).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from record import write_result

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.operator.support import (  # noqa: E402
    NS,
    daemonset_node,
    renew_lease,
)
from tests.support.fixtures import OLLAMANODE_CRD, ServerThread  # noqa: E402
from tests.support.kube_api_server import KubeApiServer  # noqa: E402

SWEEP = 1.0
NOT_READY_AFTER = 3.0
STANDALONE = 20
ONODE = ("obt.dev/v1alpha1", "OllamaNode")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate(api: KubeApiServer, n: int) -> None:
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for i in range(n):
        # Node, agent pod and OllamaNode, the same objects the operator tests use.
        daemonset_node(api, f"gpu-{i:05d}")
    for i in range(STANDALONE):
        host = f"host-{i:02d}"
        api.create(
            {
                "apiVersion": "obt.dev/v1alpha1",
                "kind": "OllamaNode",
                "metadata": {"name": host},
                "spec": {"source": "standalone", "hostId": host},
            }
        )
        renew_lease(api, host)


def phase(api: KubeApiServer, name: str) -> str | None:
    obj = api.store.bucket(api._info(*ONODE)).get(("", name))
    return None if obj is None else (obj.get("status") or {}).get("phase")


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(size: int, samples: int) -> dict[str, float | int]:
    runner = ServerThread(KubeApiServer())
    api = runner.start()
    try:
        api.load_crds([OLLAMANODE_CRD])
        t = time.monotonic()
        populate(api, size)
        print(
            f"\n== {size} OllamaNodes (+{STANDALONE} standalone) == populated in {time.monotonic() - t:.1f}s"
        )
        kubeconfig = api.write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig")
        hosts = [f"host-{i:02d}" for i in range(STANDALONE)]
        silent: dict[str, float] = {}
        last_renewal: dict[str, float] = {}
        stop = threading.Event()

        def heartbeats() -> None:
            while not stop.is_set():
                for host in hosts:
                    if host not in silent:
                        renew_lease(api, host)
                        last_renewal[host] = time.monotonic()
                stop.wait(0.5)

        beat = threading.Thread(target=heartbeats, daemon=True)
        beat.start()
        port = free_port()
        env = {
            **os.environ,
            "OBT_KUBE__NAMESPACE": NS,
            "OBT_KUBE__KUBECONFIG": kubeconfig,
            "OBT_OPERATOR__LISTEN": f"127.0.0.1:{port}",
            "OBT_OPERATOR__LIVENESS__SWEEP_INTERVAL_SECONDS": str(SWEEP),
            "OBT_OPERATOR__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": str(NOT_READY_AFTER),
            "OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECONDS": "3600",
            "OBT_LOG__LEVEL": "WARNING",
        }
        started = time.monotonic()
        figures: dict[str, float | int] = {"nodes": size, "standalone": STANDALONE}
        proc = subprocess.Popen(
            [sys.executable, "-m", "obt.operator", "--identity", "bench"], env=env
        )
        try:
            names = [f"gpu-{i:05d}" for i in range(size)]
            while not all(phase(api, n) == "Ready" for n in names[-50:] + hosts[-3:]):
                time.sleep(0.2)
                if time.monotonic() - started > 300:
                    raise SystemExit("the operator did not judge the fleet within 300 s")
            while any(phase(api, n) != "Ready" for n in names):
                time.sleep(0.2)
            figures["firstJudgementSeconds"] = round(time.monotonic() - started, 1)
            print(
                f"all Ready (first judgement, {size} status writes) {figures['firstJudgementSeconds']}s after start"
            )
            # Quiet period: sweeps that judge everything and write nothing.
            count0, sum0 = (
                metric(port, "obt_operator_sweep_seconds_count"),
                metric(port, "obt_operator_sweep_seconds_sum"),
            )
            quiet_from = time.time()
            time.sleep(10 * SWEEP)
            count1, sum1 = (
                metric(port, "obt_operator_sweep_seconds_count"),
                metric(port, "obt_operator_sweep_seconds_sum"),
            )
            writes = [
                w
                for w in api.writes(user_agent_contains="obt-operator", since=quiet_from)
                if w.resource != "leases"
            ]
            mean = (sum1 - sum0) / max(1.0, count1 - count0)
            rss = psutil.Process(proc.pid).memory_info().rss / 2**20
            print(f"sweep time (quiet, mean of {count1 - count0:.0f}): {mean * 1000:.1f} ms")
            print(f"operator RSS: {rss:.0f} MiB")
            figures |= {"quietSweepMeanMs": round(mean * 1000, 2), "rssMiB": round(rss, 1)}
            api.clear_requests()

            # Pod NotReady -> OllamaNode NotReady.
            flipped: dict[str, float] = {}
            detected: dict[str, float] = {}
            chosen = random.sample(names, min(samples, size))
            for name in chosen:
                api.set_pod_ready(NS, f"agent-{name}", False)
                flipped[name] = time.monotonic()
                for other in list(flipped):
                    if other not in detected and phase(api, other) == "NotReady":
                        detected[other] = time.monotonic()
                time.sleep(random.uniform(0.0, 0.05))
            while len(detected) < len(flipped) and time.monotonic() - max(flipped.values()) < 30:
                for other in flipped:
                    if other not in detected and phase(api, other) == "NotReady":
                        detected[other] = time.monotonic()
                time.sleep(0.01)
            pod_latency = [detected[n] - flipped[n] for n in detected]
            print(
                f"pod NotReady -> NotReady ({len(pod_latency)}/{len(flipped)}): "
                f"p50 {percentile(pod_latency, 0.5):.2f}s p99 {percentile(pod_latency, 0.99):.2f}s"
            )
            figures |= {
                "podNotReadyDetectedP50Seconds": round(percentile(pod_latency, 0.5), 3),
                "podNotReadyDetectedP99Seconds": round(percentile(pod_latency, 0.99), 3),
                "podNotReadyDetected": len(pod_latency),
                "podNotReadyFlipped": len(flipped),
            }

            # Lease silent -> NotReady, beyond the threshold.
            lease_latency: list[float] = []
            for host in hosts:
                silent[host] = time.monotonic()
                time.sleep(random.uniform(0.0, 0.3))
            deadline = time.monotonic() + NOT_READY_AFTER + 10
            pending = set(hosts)
            while pending and time.monotonic() < deadline:
                for host in list(pending):
                    if phase(api, host) == "NotReady":
                        lease_latency.append(
                            time.monotonic() - last_renewal[host] - NOT_READY_AFTER
                        )
                        pending.discard(host)
                time.sleep(0.01)
            print(
                f"Lease silent -> NotReady beyond the {NOT_READY_AFTER:g}s threshold "
                f"({len(lease_latency)}/{len(hosts)}): p50 {percentile(lease_latency, 0.5):.2f}s "
                f"p99 {percentile(lease_latency, 0.99):.2f}s"
            )
            rss_after = psutil.Process(proc.pid).memory_info().rss / 2**20
            print(
                f"operator RSS after: {rss_after:.0f} MiB; "
                f"status/Event writes during the quiet period: {len(writes)}"
            )
            figures |= {
                "leaseSilentBeyondThresholdP50Seconds": round(percentile(lease_latency, 0.5), 3),
                "leaseSilentBeyondThresholdP99Seconds": round(percentile(lease_latency, 0.99), 3),
                "leaseSilentDetected": len(lease_latency),
                "rssAfterMiB": round(rss_after, 1),
                "quietPeriodWrites": len(writes),
            }
            return figures
        finally:
            stop.set()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        runner.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    runs = [run(size, args.samples) for size in args.sizes]
    write_result(
        "operator_sweep",
        {**vars(args), "sweepSeconds": SWEEP, "notReadyAfterSeconds": NOT_READY_AFTER},
        {"bySize": runs},
    )


if __name__ == "__main__":
    main()
