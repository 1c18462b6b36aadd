"""Task and model-set statuses: the real operator (KopfRunner) against the API test server.

The agents are simulated: the test patches each OllamaNode's status.activity and status.ollama
(installed models) the way a DaemonSet agent does (the agent's own execution is tested with the
agent). The operator aggregates them into the sets' and tasks' statuses. Write counts come from the
test server's request log; bounds on them are generous (elapsed seconds + 2) so that a busy machine
cannot flip them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.operator.support import (
    ONODE,
    daemonset_node,
    event_reasons,
    kopf_operator,
    operator_writes,
    setup_namespace,
    wait_for,
)
from tests.support.fixtures import REPO
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.slow

OTASK = ("obt.dev/v1alpha1", "OllamaTask")
OMSET = ("obt.dev/v1alpha1", "OllamaModelSet")
MODEL = "llama3.2:latest"
DIGEST = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"
OTHER_DIGEST = "b1ee4c17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b00"
POOL = {"obt.dev/pool": "a"}
OLLAMA_ERROR = "pull model manifest: file does not exist"


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fleet(api: KubeApiServer, nodes: list[str]) -> None:
    """The namespace, the task and set CRDs, and DaemonSet nodes labelled POOL."""
    setup_namespace(api)
    api.load_crds([REPO / "crds" / "ollamatask.yaml", REPO / "crds" / "ollamamodelset.yaml"])
    for name in nodes:
        labelled_node(api, name)


def labelled_node(api: KubeApiServer, name: str, labels: dict[str, str] | None = None) -> None:
    """A DaemonSet node (Node, agent pod, OllamaNode) whose agent copied `labels` onto it."""
    daemonset_node(api, name)
    api.patch(*ONODE, name, {"metadata": {"labels": labels or POOL}})


def model_line(name: str, digest: str) -> str:
    return f"{name} {digest[:12]} 2019393189 llama 3.2B Q4_K_M 2024-09-25T00:00:00Z"


def activity(
    source: dict[str, Any],
    action: str,
    model: str,
    phase: str,
    **extra: Any,
) -> dict[str, Any]:
    entry = {
        "sourceKind": source["kind"],
        "source": source["metadata"]["name"],
        "sourceUid": source["metadata"]["uid"],
        "generation": source["metadata"].get("generation", 1),
        "action": action,
        "model": model,
        "phase": phase,
        "attempts": 1,
        "startedAt": stamp(),
    }
    if phase in ("Succeeded", "Failed", "Cancelled", "Skipped"):
        entry["finishedAt"] = stamp()
    entry.update(extra)
    return entry


def pull(source: dict[str, Any], phase: str, **extra: Any) -> dict[str, Any]:
    """One activity entry: pulling MODEL for a task or set."""
    return activity(source, "pull", MODEL, phase, **extra)


def agent_writes(
    api: KubeApiServer,
    node: str,
    activity: list[dict[str, Any]] | None = None,
    models: list[str] | None = None,
) -> None:
    """What a node's agent writes into its own OllamaNode's status."""
    status: dict[str, Any] = {}
    if activity is not None:
        status["activity"] = activity
    if models is not None:
        status["ollama"] = {"reachable": True, "version": "0.5.7", "models": models}
    api.patch(*ONODE, node, {"status": status}, subresource="status")


def status_of(api: KubeApiServer, kind: tuple[str, str], name: str) -> dict[str, Any]:
    obj = api.get(*kind, name)
    return {} if obj is None else obj.get("status") or {}


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})


def status_writes(api: KubeApiServer, resource: str, name: str, since: float) -> int:
    return sum(
        1
        for w in operator_writes(api, since=since)
        if w.resource == resource and w.name == name and w.subresource == "status"
    )


class SimulatedAgents:
    """Agents that pull a model set's models when (and only when) the set admits their node.

    `step()` moves every admitted node one step (start the pull, then finish it), the way a
    DaemonSet agent follows `status.admitted`; `fail` names nodes whose pull fails with Ollama's
    error text. It records the most nodes admitted and the most pulling at once."""

    def __init__(self, api: KubeApiServer, mset: dict[str, Any], fail: Iterable[str] = ()):
        self.api, self.mset, self.fail = api, mset, set(fail)
        self.installed: dict[str, list[str]] = {}
        self.pulling: set[str] = set()
        self.failed: set[str] = set()
        self.max_admitted = 0
        self.max_pulling = 0

    def step(self) -> dict[str, Any]:
        status = status_of(self.api, OMSET, self.mset["metadata"]["name"])
        admitted = list(status.get("admitted") or [])
        self.max_admitted = max(self.max_admitted, len(admitted))
        for node in list(self.pulling):  # a pull started last step ends now
            self.pulling.discard(node)
            if node in self.fail:
                self.failed.add(node)
                failure = pull(self.mset, "Failed", reason="OllamaError", message=OLLAMA_ERROR)
                agent_writes(self.api, node, [failure])
            else:
                self.installed[node] = [model_line(MODEL, DIGEST)]
                done = pull(self.mset, "Succeeded", digest=DIGEST)
                agent_writes(self.api, node, [done], self.installed[node])
        for node in admitted:
            if node in self.installed or node in self.failed:
                continue
            self.pulling.add(node)
            running = pull(self.mset, "Running", completedBytes=1000, totalBytes=2019393189)
            agent_writes(self.api, node, [running])
        self.max_pulling = max(self.max_pulling, len(self.pulling))
        return status

    def until(self, done: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status = self.step()
            if done(status):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}: {status}")
            time.sleep(0.3)


def model_set(
    api: KubeApiServer, name: str, max_pulls: int | str = 1, digest: str | None = None
) -> dict[str, Any]:
    model: dict[str, Any] = {"name": "llama3.2"}
    if digest:
        model["digest"] = digest
    return api.create(
        {
            "apiVersion": "obt.dev/v1alpha1",
            "kind": "OllamaModelSet",
            "metadata": {"name": name},
            "spec": {
                "models": [model],
                "nodeSelector": {"matchLabels": POOL},
                "maxConcurrentPulls": max_pulls,
            },
        }
    )


def test_model_set_converges_within_its_pull_limit_and_takes_in_a_late_node(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(kube_api, ["gpu-1", "gpu-2", "gpu-3"])
    labelled_node(kube_api, "cpu-1", {"obt.dev/pool": "b"})  # not selected
    with kopf_operator(kube_api, monkeypatch):
        started = time.time()
        mset = model_set(kube_api, "base", max_pulls=1)
        agents = SimulatedAgents(kube_api, mset)
        wait_for(lambda: status_of(kube_api, OMSET, "base").get("selected") == 3, 10, "3 selected")
        agents.until(lambda s: s.get("ready") == 3, 60, "READY 3")
        status = status_of(kube_api, OMSET, "base")
        assert status["selected"] == 3
        assert status.get("failed", 0) == 0
        assert status["observedGeneration"] == 1
        assert condition(status, "Ready")["status"] == "True"
        assert condition(status, "Degraded")["status"] == "False"
        assert agents.max_admitted == 1, "more nodes admitted than maxConcurrentPulls"
        assert agents.max_pulling == 1

        # A node that joins later and matches is selected, admitted, and gets the model.
        labelled_node(kube_api, "gpu-4")
        wait_for(lambda: status_of(kube_api, OMSET, "base").get("selected") == 4, 10, "gpu-4")
        agents.until(lambda s: "gpu-4" in (s.get("admitted") or []), 10, "gpu-4 admitted")
        agents.until(lambda s: s.get("ready") == 4, 20, "READY 4")
        assert agents.max_admitted == 1

        # Raising the limit is a new generation, observed.
        kube_api.patch(*OMSET, "base", {"spec": {"maxConcurrentPulls": "50%"}})
        wait_for(
            lambda: status_of(kube_api, OMSET, "base").get("observedGeneration") == 2,
            10,
            "generation 2 observed",
        )
        elapsed = time.time() - started
        writes = status_writes(kube_api, "ollamamodelsets", "base", started)
        assert 1 <= writes <= elapsed + 2, (writes, elapsed)


def test_drift_and_a_failing_node_make_the_set_degraded_with_ollamas_error(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(kube_api, ["gpu-1", "gpu-2", "gpu-3"])
    with kopf_operator(kube_api, monkeypatch):
        mset = model_set(kube_api, "pinned", max_pulls=3, digest=DIGEST)
        agents = SimulatedAgents(kube_api, mset, fail={"gpu-3"})
        agents.until(
            lambda s: s.get("ready") == 2 and s.get("failed") == 1, 30, "2 ready, 1 failed"
        )
        status = status_of(kube_api, OMSET, "pinned")
        degraded = condition(status, "Degraded")
        assert degraded["status"] == "True"
        assert "gpu-3" in degraded["message"] and OLLAMA_ERROR in degraded["message"]
        # ... and `kubectl describe omset pinned` shows it as a Warning Event.
        wait_for(lambda: "OllamaError" in event_reasons(kube_api, "pinned"), 10, "the Event")
        failed = [n for n in status["nodes"] if n["node"] == "gpu-3"]
        assert failed and failed[0]["state"] == "Failed", status["nodes"]
        assert OLLAMA_ERROR in failed[0]["message"]

        # Someone re-pulls the tag on gpu-2 and gets another digest: drift is reported.
        agent_writes(kube_api, "gpu-2", models=[model_line(MODEL, OTHER_DIGEST)])
        wait_for(lambda: status_of(kube_api, OMSET, "pinned").get("drifted") == 1, 10, "drift seen")
        status = status_of(kube_api, OMSET, "pinned")
        gpu2 = next(n for n in status["nodes"] if n["node"] == "gpu-2")
        assert gpu2["drifted"] == [MODEL]
        assert status["ready"] == 1


def task(api: KubeApiServer, name: str, nodes: list[str], **spec: Any) -> dict[str, Any]:
    return api.create(
        {
            "apiVersion": "obt.dev/v1alpha1",
            "kind": "OllamaTask",
            "metadata": {"name": name},
            "spec": {"action": "pull", "models": [{"name": "llama3.2"}], "nodes": nodes, **spec},
        }
    )


def task_phase(api: KubeApiServer, name: str) -> str | None:
    return status_of(api, OTASK, name).get("phase")


def test_task_runs_to_its_end_and_its_ttl_deletes_it(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(kube_api, ["gpu-1", "gpu-2"])
    with kopf_operator(kube_api, monkeypatch):
        # Succeeded: Pending -> Running -> Succeeded, then deleted after its TTL.
        ok = task(kube_api, "pull-ok", ["gpu-1", "gpu-2"], ttlSecondsAfterFinished=2)
        wait_for(lambda: task_phase(kube_api, "pull-ok") == "Pending", 10, "Pending")
        assert status_of(kube_api, OTASK, "pull-ok")["selected"] == 2
        agent_writes(kube_api, "gpu-1", [pull(ok, "Running")])
        wait_for(lambda: task_phase(kube_api, "pull-ok") == "Running", 10, "Running")
        for node in ("gpu-1", "gpu-2"):
            agent_writes(
                kube_api, node, [pull(ok, "Succeeded", digest=DIGEST)], [model_line(MODEL, DIGEST)]
            )
        wait_for(lambda: task_phase(kube_api, "pull-ok") == "Succeeded", 10, "Succeeded")
        status = status_of(kube_api, OTASK, "pull-ok")
        assert status["succeeded"] == 2 and status.get("failed", 0) == 0
        assert status["completionTime"] and status["observedGeneration"] == 1
        wait_for(lambda: event_reasons(kube_api, "pull-ok") == ["Succeeded"], 10, "the Event")
        finished = time.monotonic()
        wait_for(lambda: kube_api.get(*OTASK, "pull-ok") is None, 15, "TTL deletion")
        assert time.monotonic() - finished >= 1.0  # not before its TTL (2 s, minus slack)
        deletes = [w.name for w in operator_writes(kube_api) if w.verb == "delete"]
        assert deletes == ["pull-ok"]

        # Failed: one node fails with Ollama's error; the other succeeds.
        bad = task(kube_api, "pull-bad", ["gpu-1", "gpu-2"])
        agent_writes(
            kube_api,
            "gpu-1",
            [pull(bad, "Failed", reason="OllamaError", message=OLLAMA_ERROR)],
        )
        agent_writes(kube_api, "gpu-2", [pull(bad, "Succeeded")])
        wait_for(lambda: task_phase(kube_api, "pull-bad") == "Failed", 10, "Failed")
        status = status_of(kube_api, OTASK, "pull-bad")
        assert status["failed"] == 1 and status["succeeded"] == 1
        assert status["nodes"][0]["node"] == "gpu-1"
        assert OLLAMA_ERROR in status["nodes"][0]["message"]
        wait_for(lambda: event_reasons(kube_api, "pull-bad") == ["Failed"], 10, "the Event")

        # Cancelled: `obt task cancel` sets spec.cancel.
        slow = task(kube_api, "pull-slow", ["gpu-1"])
        agent_writes(kube_api, "gpu-1", [pull(slow, "Running")])
        wait_for(lambda: task_phase(kube_api, "pull-slow") == "Running", 10, "Running")
        kube_api.patch(*OTASK, "pull-slow", {"spec": {"cancel": True}})
        wait_for(lambda: task_phase(kube_api, "pull-slow") == "Cancelled", 10, "Cancelled")
        assert status_of(kube_api, OTASK, "pull-slow")["observedGeneration"] == 2

        # A spec kubectl accepts but the contract rejects ends Failed, saying why.
        kube_api.create(
            {
                "apiVersion": "obt.dev/v1alpha1",
                "kind": "OllamaTask",
                "metadata": {"name": "both"},
                "spec": {
                    "action": "pull",
                    "models": [{"name": "llama3.2"}],
                    "nodes": ["gpu-1"],
                    "nodeSelector": {"matchLabels": POOL},
                },
            }
        )
        wait_for(lambda: task_phase(kube_api, "both") == "Failed", 10, "invalid task Failed")
        failed = condition(status_of(kube_api, OTASK, "both"), "Failed")
        assert failed["reason"] == "InvalidSpec"
        assert "nodes or nodeSelector, not both" in failed["message"]


def test_a_burst_of_node_activity_writes_each_status_at_most_once_a_second(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = ["gpu-1", "gpu-2", "gpu-3"]
    fleet(kube_api, nodes)
    with kopf_operator(kube_api, monkeypatch):
        mset = model_set(kube_api, "burst", max_pulls=3)
        work = task(kube_api, "pull-burst", nodes)
        wait_for(
            lambda: (status_of(kube_api, OMSET, "burst").get("admitted") or []) == nodes,
            10,
            "all admitted",
        )
        started = time.time()
        # Every node reports progress for both, ~30 times a second each, for 4 seconds: far
        # faster than an agent may (every 5 s), as many agents at once would look.
        done = 0
        while time.time() - started < 4:
            done += 1_000_000
            for node in nodes:
                agent_writes(
                    kube_api,
                    node,
                    [
                        activity(
                            work, "pull", MODEL, "Running", completedBytes=done, totalBytes=10**10
                        ),
                        activity(
                            mset, "pull", MODEL, "Running", completedBytes=done, totalBytes=10**10
                        ),
                    ],
                )
            time.sleep(0.03)
        last = done

        def carries_latest() -> bool:
            outcomes = status_of(kube_api, OTASK, "pull-burst").get("nodes") or []
            return [n.get("completedBytes") for n in outcomes] == [last] * 3

        wait_for(carries_latest, 10, "the task's status to carry the latest progress")
        wait_for(lambda: status_of(kube_api, OMSET, "burst").get("pulling") == 3, 10, "pulling")
        elapsed = time.time() - started
        for resource, name in (("ollamatasks", "pull-burst"), ("ollamamodelsets", "burst")):
            writes = status_writes(kube_api, resource, name, started)
            assert writes <= elapsed + 2, (resource, writes, elapsed)
        # The burst did change the task's status many times: it was written, coalesced.
        assert status_writes(kube_api, "ollamatasks", "pull-burst", started) >= 2


def test_liveness_does_not_wait_for_tasks_it_may_not_list(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An RBAC older than the operator (403 on tasks): nodes are still judged."""
    fleet(kube_api, ["gpu-1"])
    kube_api.faults.fail(403, seconds=120, when=lambda r: r.resource == "ollamatasks")
    with kopf_operator(kube_api, monkeypatch) as operator:
        wait_for(lambda: operator.runtime.index.listed, 20, "the index listed")
        wait_for(
            lambda: (kube_api.get(*ONODE, "gpu-1") or {}).get("status", {}).get("phase") == "Ready",
            10,
            "gpu-1 Ready",
        )
        kube_api.faults.heal()
