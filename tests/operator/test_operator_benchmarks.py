"""Benchmark statuses: the real operator (KopfRunner) against the API test server.

The agents are simulated: the test patches each OllamaNode's status.activity the way a DaemonSet
agent does while it measures, and creates the OllamaBenchmarkResult objects an agent writes (owned
by their benchmark, so the garbage collector removes them with it). The operator counts them into
the benchmark's status. Write counts come from the test server's request log, with generous bounds
(elapsed seconds + 2) that a busy machine cannot flip.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.operator.support import event_reasons, kopf_operator, wait_for
from tests.operator.test_aggregate import result_body
from tests.operator.test_operator_work import (
    MODEL,
    activity,
    agent_writes,
    condition,
    fleet,
    status_of,
    status_writes,
)
from tests.support.fixtures import REPO
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.slow

OBENCH = ("obt.dev/v1alpha1", "OllamaBenchmark")


def bench_fleet(api: KubeApiServer, nodes: list[str]) -> None:
    fleet(api, nodes)
    api.load_crds(
        [REPO / "crds" / "ollamabenchmark.yaml", REPO / "crds" / "ollamabenchmarkresult.yaml"]
    )


def benchmark(api: KubeApiServer, name: str, nodes: list[str]) -> dict[str, Any]:
    return api.create(
        {
            "apiVersion": "obt.dev/v1alpha1",
            "kind": "OllamaBenchmark",
            "metadata": {"name": name},
            "spec": {"models": [{"name": "llama3.2"}], "nodes": nodes},
        }
    )


def result(api: KubeApiServer, bench: dict[str, Any], node: str, *, cached: bool = False) -> str:
    """The OllamaBenchmarkResult an agent writes for (node, MODEL), owned by its benchmark."""
    meta = bench["metadata"]
    name = f"{meta['name']}-{node}"
    body = result_body(name, meta["name"], node, cached, meta["uid"])
    body["metadata"] = {
        "name": name,
        "ownerReferences": [
            {
                "apiVersion": "obt.dev/v1alpha1",
                "kind": "OllamaBenchmark",
                "name": meta["name"],
                "uid": meta["uid"],
            }
        ],
    }
    api.create(body)
    return name


def measuring(bench: dict[str, Any], phase: str, **extra: Any) -> dict[str, Any]:
    return activity(bench, "benchmark", MODEL, phase, **extra)


def phase_of(api: KubeApiServer, name: str) -> str | None:
    return status_of(api, OBENCH, name).get("phase")


def test_benchmark_runs_to_its_end_counting_its_own_results_and_can_be_cancelled(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = ["gpu-1", "gpu-2", "gpu-3"]
    bench_fleet(kube_api, nodes)
    with kopf_operator(kube_api, monkeypatch):
        started = time.time()
        speed = benchmark(kube_api, "speed", nodes)
        wait_for(lambda: phase_of(kube_api, "speed") == "Pending", 10, "Pending")
        assert status_of(kube_api, OBENCH, "speed")["selected"] == 3

        agent_writes(kube_api, "gpu-1", [measuring(speed, "Running", message="prompt 1 of 3")])
        wait_for(lambda: phase_of(kube_api, "speed") == "Running", 10, "Running")
        assert status_of(kube_api, OBENCH, "speed")["running"] == 1

        # A result of another benchmark for gpu-3 counts for nothing here.
        other = benchmark(kube_api, "other", ["gpu-3"])
        result(kube_api, other, "gpu-3")
        # gpu-1 measured, gpu-2 reused a cached result.
        ran = result(kube_api, speed, "gpu-1")
        agent_writes(kube_api, "gpu-1", [measuring(speed, "Succeeded", result=ran)])
        reused = result(kube_api, speed, "gpu-2", cached=True)
        agent_writes(kube_api, "gpu-2", [measuring(speed, "Succeeded", result=reused)])
        wait_for(lambda: status_of(kube_api, OBENCH, "speed").get("done") == 2, 10, "2 done")
        status = status_of(kube_api, OBENCH, "speed")
        assert status["phase"] == "Running", status  # gpu-3 not yet: the other's result is not it
        assert status["ran"] == 1 and status["reused"] == 1
        wait_for(lambda: phase_of(kube_api, "other") == "Succeeded", 10, "the other Succeeded")

        # gpu-3 cannot fit the model: skipped with the reason; the benchmark is over.
        agent_writes(
            kube_api,
            "gpu-3",
            [measuring(speed, "Skipped", reason="DoesNotFit", message="needs 48Gi, has 24Gi")],
        )
        wait_for(lambda: phase_of(kube_api, "speed") == "Succeeded", 10, "Succeeded")
        status = status_of(kube_api, OBENCH, "speed")
        assert (status["done"], status["ran"], status["reused"], status["skipped"]) == (2, 1, 1, 1)
        assert status.get("failed", 0) == 0
        assert status["observedGeneration"] == 1 and status["completionTime"]
        assert condition(status, "Complete")["status"] == "True"
        skipped = next(n for n in status["nodes"] if n["node"] == "gpu-3")
        assert skipped["phase"] == "Skipped" and skipped["reason"] == "DoesNotFit"
        assert {n["result"] for n in status["nodes"] if n["phase"] == "Succeeded"} == {ran, reused}
        wait_for(lambda: event_reasons(kube_api, "speed") == ["Succeeded"], 10, "the Event")
        elapsed = time.time() - started
        writes = status_writes(kube_api, "ollamabenchmarks", "speed", started)
        assert 1 <= writes <= elapsed + 2, (writes, elapsed)

        # Cancelled: `obt bench` (or kubectl) sets spec.cancel; a new generation, observed.
        slow = benchmark(kube_api, "slow", ["gpu-1", "gpu-2"])
        agent_writes(kube_api, "gpu-1", [measuring(slow, "Running")])
        wait_for(lambda: phase_of(kube_api, "slow") == "Running", 10, "Running")
        kube_api.patch(*OBENCH, "slow", {"spec": {"cancel": True}})
        wait_for(lambda: phase_of(kube_api, "slow") == "Cancelled", 10, "Cancelled")
        assert status_of(kube_api, OBENCH, "slow")["observedGeneration"] == 2
        wait_for(lambda: event_reasons(kube_api, "slow") == ["Cancelled"], 10, "the Event")


def test_a_burst_of_measuring_progress_writes_the_status_at_most_once_a_second(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = ["gpu-1", "gpu-2", "gpu-3"]
    bench_fleet(kube_api, nodes)
    with kopf_operator(kube_api, monkeypatch):
        burst = benchmark(kube_api, "burst", nodes)
        wait_for(lambda: phase_of(kube_api, "burst") == "Pending", 10, "Pending")
        started = time.time()
        step = 0
        while time.time() - started < 4:  # far faster than an agent may write (every 5 s)
            step += 1
            for node in nodes:
                progress = measuring(burst, "Running", message=f"run {step}")
                agent_writes(kube_api, node, [progress])
            time.sleep(0.03)
        last = f"run {step}"

        def carries_latest() -> bool:
            pairs = status_of(kube_api, OBENCH, "burst").get("nodes") or []
            return [p.get("message") for p in pairs] == [last] * 3

        wait_for(carries_latest, 10, "the status to carry the latest progress")
        elapsed = time.time() - started
        writes = status_writes(kube_api, "ollamabenchmarks", "burst", started)
        assert 2 <= writes <= elapsed + 2, (writes, elapsed)
