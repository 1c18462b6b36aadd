"""Kubernetes mode acting on models, end to end against the API test server (tests/support) with
the real KubeClient and the fake Ollama: a task and a model set created as custom resources are
watched, the pulls reach the fake Ollama, progress and outcomes appear in the OllamaNode's
status.activity, status.ollama.models follows at once, the Node's labels are copied (and kept in
step), the report's own writes are undisturbed, and an idle node writes nothing."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import subprocess
from typing import Any

from obt.agent.detect import Detector
from obt.agent.health import Health
from obt.agent.ollama_ops import OllamaOps
from obt.agent.reporters.http import USER_AGENT
from obt.agent.reporters.kube_work import KubeWork, copied_labels, label_patch
from obt.agent.reporters.kubernetes import KubernetesReporter
from obt.agent.runner import AgentLoop
from obt.agent.settings import DEFAULT_NODE_LABEL_PREFIXES
from obt.agent.sources import default_sources
from obt.agent.worker import Worker
from obt.core.crd import build_crd
from obt.core.kinds import KINDS
from obt.core.kube import KubeClient, kubeconfig_config
from tests.agent.recorded import recorded_probe
from tests.support.fixtures import REPO
from tests.support.processes import stop

NODE = "gpu-node-1"
API = "obt.dev/v1alpha1"
GB = 1_000_000_000
NODE_LABELS = {
    "kubernetes.io/os": "linux",
    "kubernetes.io/hostname": NODE,
    "nvidia.com/gpu.product": "NVIDIA-GeForce-RTX-4060-Ti",
    "topology.kubernetes.io/zone": "lab-a",
    "example.com/team": "not-copied",
}


def test_copied_labels_and_patch() -> None:
    copied = copied_labels(NODE_LABELS, DEFAULT_NODE_LABEL_PREFIXES)
    assert "example.com/team" not in copied and copied["nvidia.com/gpu.product"]
    assert copied_labels({"kubernetes.io/osx": "1"}, ["kubernetes.io/os"]) == {}
    current = {"obt.dev/source": "daemonset", "nvidia.com/gpu.count": "2", "mine": "x"}
    patch = label_patch(current, {"nvidia.com/gpu.product": "A"}, ["nvidia.com/", "obt.dev/"])
    # a lost Node label is removed; the source label and people's labels are left alone
    assert patch == {"nvidia.com/gpu.product": "A", "nvidia.com/gpu.count": None}


class Agent:
    def __init__(self, kube_api: Any, ollama: Any, clock: Any) -> None:
        self.kube_api = kube_api
        self.clock = clock
        detector = Detector(
            probe=recorded_probe("rtx4060ti-x2-desktop", ollama_url=ollama.url),
            mode="kubernetes",
            pod_name="obt-agent-x7k2p",
            pod_namespace="obt",
            sources=default_sources(),
        )
        self.health = Health(interval=15, clock=clock, ready_cycles=3, failure_threshold=2)
        kube = KubeClient(kubeconfig_config(kube_api.kubeconfig), user_agent=USER_AGENT, timeout=5)

        async def sleep(seconds: float) -> None:
            clock.advance(seconds)

        self.worker = Worker(
            OllamaOps(ollama.url),
            NODE,
            lambda a: asyncio.sleep(0),
            clock=clock,
            sleep=sleep,
            rng=random.Random(1),
        )
        self.work = KubeWork(kube, NODE, self.worker, self.health, DEFAULT_NODE_LABEL_PREFIXES)
        self.worker.sink = self.work.write_activity
        self.reporter = KubernetesReporter(kube, NODE, self.health, clock, 60, work=self.work)
        self.loop = AgentLoop(detector, self.reporter, self.health, interval=15, clock=clock)

    async def run_until(self, done: Any, rounds: int = 600) -> None:
        """Loop steps, one simulated second apart, with a real moment for watches and I/O."""
        for _ in range(rounds):
            await self.loop.step()
            if done():
                return
            await asyncio.sleep(0.01)
            self.clock.advance(1.0)
        raise AssertionError(f"not reached; activity {self.worker.activity}")

    def node(self) -> dict[str, Any]:
        obj = self.kube_api.get(API, "OllamaNode", NODE)
        assert obj is not None
        return obj

    def activity(self) -> list[dict[str, Any]]:
        return (self.node().get("status") or {}).get("activity") or []

    async def close(self) -> None:
        await self.reporter.close()


def install_kinds(kube_api: Any) -> None:
    for kind in KINDS:  # the generated CRDs (OllamaNode with status.activity, tasks, sets)
        kube_api.apply_crd(build_crd(kind))


def agent_writes(kube_api: Any) -> int:
    return len(kube_api.writes(user_agent_contains="obt-agent", resource="ollamanodes"))


async def test_task_and_model_set_run_and_show_in_the_ollamanode(kube_api, ollama, clock) -> None:
    install_kinds(kube_api)
    kube_api.set_node_ready(NODE, labels=NODE_LABELS)
    ollama.publish("llama3.2", 2 * GB)
    ollama.publish("qwen2.5:7b", 4 * GB)
    agent = Agent(kube_api, ollama, clock)
    try:
        await agent.run_until(lambda: agent.reporter.ensured and agent.worker.tasks is not None)
        labels = agent.node()["metadata"]["labels"]
        assert labels["nvidia.com/gpu.product"] == "NVIDIA-GeForce-RTX-4060-Ti"
        assert labels["kubernetes.io/os"] == "linux" and labels["obt.dev/source"] == "daemonset"
        assert "example.com/team" not in labels

        kube_api.create(
            {
                "apiVersion": API,
                "kind": "OllamaTask",
                "metadata": {"name": "pull-llama"},
                "spec": {"action": "pull", "models": [{"name": "llama3.2"}], "nodes": [NODE]},
            }
        )
        kube_api.create(
            {
                "apiVersion": API,
                "kind": "OllamaModelSet",
                "metadata": {"name": "base"},
                "spec": {
                    "models": [{"name": "qwen2.5:7b"}],
                    "nodeSelector": {"matchLabels": {"kubernetes.io/os": "linux"}},
                },
            }
        )
        # the operator admits the node to pull (maxConcurrentPulls)
        kube_api.patch(
            API, "OllamaModelSet", "base", {"status": {"admitted": [NODE]}}, subresource="status"
        )

        def converged() -> bool:
            phases = {(a["source"], a["phase"]) for a in agent.activity()}
            models = {
                m.split()[0] for m in (agent.node()["status"].get("ollama") or {}).get("models", [])
            }
            return {("pull-llama", "Succeeded"), ("base", "Succeeded")} <= phases and {
                "llama3.2:latest",
                "qwen2.5:7b",
            } <= models

        await agent.run_until(converged)
        pulls = [r.body["model"] for r in ollama.calls("POST", "/api/pull")]
        assert sorted(pulls) == ["llama3.2:latest", "qwen2.5:7b"]
        entry = next(a for a in agent.activity() if a["source"] == "pull-llama")
        assert entry["sourceKind"] == "OllamaTask" and entry["action"] == "pull"
        assert entry["totalBytes"] == entry["completedBytes"] == 2 * GB
        assert (
            entry["sourceUid"] == kube_api.get(API, "OllamaTask", "pull-llama")["metadata"]["uid"]
        )
        status = agent.node()["status"]
        assert status["hardware"]["gpus"]  # the report is intact beside the activity

        # Idle: ten simulated minutes, the task and set still there: nothing written.
        await agent.run_until(lambda: not agent.worker.dirty)
        before = agent_writes(kube_api)
        for _ in range(40):
            clock.advance(15)
            await agent.loop.step()
            await asyncio.sleep(0.005)
        assert agent_writes(kube_api) == before, "an idle node wrote"

        # A Node label changes: copied at the next check (the cached read every 60 s).
        kube_api.patch(
            "v1",
            "Node",
            NODE,
            {
                "metadata": {
                    "labels": {
                        "nvidia.com/gpu.product": "H100",
                        "topology.kubernetes.io/zone": None,
                    }
                }
            },
        )
        await agent.run_until(
            lambda: agent.node()["metadata"]["labels"].get("nvidia.com/gpu.product") == "H100",
            rounds=200,
        )
        assert "topology.kubernetes.io/zone" not in agent.node()["metadata"]["labels"]
    finally:
        await agent.close()


async def test_deleting_the_task_stops_the_pull(kube_api, ollama, clock) -> None:
    install_kinds(kube_api)
    kube_api.set_node_ready(NODE, labels=NODE_LABELS)
    ollama.publish("llama3.2", 2 * GB)
    ollama.hold("llama3.2")
    agent = Agent(kube_api, ollama, clock)
    try:
        kube_api.create(
            {
                "apiVersion": API,
                "kind": "OllamaTask",
                "metadata": {"name": "pull-llama"},
                "spec": {"action": "pull", "models": [{"name": "llama3.2"}], "nodes": [NODE]},
            }
        )
        await agent.run_until(
            lambda: (
                any(a["phase"] == "Running" for a in agent.activity()) and ollama.pulls_active == 1
            )
        )
        kube_api.delete(API, "OllamaTask", "pull-llama")
        await agent.run_until(lambda: any(a["phase"] == "Cancelled" for a in agent.activity()))
        (entry,) = agent.activity()
        assert entry["message"] == "stopped: task pull-llama was deleted"
        await agent.run_until(lambda: ollama.pulls_active == 0)
        assert ollama.pulls_aborted == 1 and "llama3.2:latest" not in ollama.installed()
    finally:
        ollama.release("llama3.2")
        await agent.close()


async def test_the_obt_agent_process_acts_on_a_task(kube_api, ollama, tmp_path) -> None:
    """The real `obt agent --kubernetes` (run_agent's wiring: settings, worker, watches)."""
    install_kinds(kube_api)
    kube_api.set_node_ready(NODE, labels=NODE_LABELS)
    ollama.publish("tiny", 1_000_000)
    env = {
        **os.environ,
        "OBT_NODE_NAME": NODE,
        "OBT_AGENT__DISK_MARGIN_BYTES": "0",
        "OBT_AGENT__OLLAMA_MODELS_DIR": str(tmp_path),
        "OBT_AGENT__NODE_LABEL_PREFIXES": "nvidia.com/,kubernetes.io/os",
    }
    args = ["agent", "--kubernetes", "--kubeconfig", str(kube_api.kubeconfig)]
    args += ["--ollama-url", ollama.url, "--interval", "30", "--listen", "off"]
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once; this loop serves the fake)
        [str(REPO / ".venv" / "bin" / "obt"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        kube_api.create(
            {
                "apiVersion": API,
                "kind": "OllamaTask",
                "metadata": {"name": "pull-tiny"},
                "spec": {"action": "pull", "models": [{"name": "tiny"}], "nodes": [NODE]},
            }
        )

        def done() -> bool:
            obj = kube_api.get(API, "OllamaNode", NODE) or {}
            status = obj.get("status") or {}
            phases = [a["phase"] for a in status.get("activity") or []]
            models = [m.split()[0] for m in (status.get("ollama") or {}).get("models", [])]
            return phases == ["Succeeded"] and "tiny:latest" in models

        for _ in range(600):  # up to 60 s on a busy machine; the fake answers meanwhile
            if done() or proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        # "tiny:latest" in status.ollama.models well before the 30 s interval: detected at once
        assert done(), stop(proc)
        labels = kube_api.get(API, "OllamaNode", NODE)["metadata"]["labels"]
        assert labels == {
            "obt.dev/source": "daemonset",
            "nvidia.com/gpu.product": "NVIDIA-GeForce-RTX-4060-Ti",
            "kubernetes.io/os": "linux",
        }
    finally:
        if proc.poll() is None:
            stop(proc)


async def test_an_agent_restarted_mid_pull_resumes_it(kube_api, ollama, clock) -> None:
    install_kinds(kube_api)
    kube_api.set_node_ready(NODE, labels=NODE_LABELS)
    ollama.publish("llama3.2", 2 * GB)
    ollama.hold("llama3.2")
    kube_api.create(
        {
            "apiVersion": API,
            "kind": "OllamaTask",
            "metadata": {"name": "pull-llama"},
            "spec": {"action": "pull", "models": [{"name": "llama3.2"}], "nodes": [NODE]},
        }
    )
    first = Agent(kube_api, ollama, clock)
    try:
        await first.run_until(
            lambda: (
                [(a["phase"], a["attempts"]) for a in first.activity()] == [("Running", 1)]
                and ollama.pulls_active == 1
            )
        )
    finally:
        await first.close()  # the pod goes away mid-pull
    ollama.release("llama3.2")
    second = Agent(kube_api, ollama, clock)
    try:
        await second.run_until(lambda: [a["phase"] for a in second.activity()] == ["Succeeded"])
        (entry,) = second.activity()
        assert entry["attempts"] == 2 and entry["completedBytes"] == 2 * GB
        assert len(ollama.calls("POST", "/api/pull")) == 2
        assert "llama3.2:latest" in ollama.installed()
    finally:
        await second.close()


async def test_status_writes_counted_from_the_request_log(kube_api, ollama, clock) -> None:
    """At most one status write per 5 s while pulling (report and activity share the budget:
    the re-detected report carries the activity along), none while idle."""
    install_kinds(kube_api)
    kube_api.set_node_ready(NODE, labels=NODE_LABELS)
    ollama.publish("a", 3 * GB)
    ollama.publish("b", 2 * GB)
    ollama.chunks, ollama.delay = 100, 0.002  # pulls that take a while, with progress
    agent = Agent(kube_api, ollama, clock)
    try:
        await agent.run_until(lambda: agent.reporter.ensured and agent.worker.tasks is not None)
        await agent.run_until(lambda: not agent.reporter._report_unsent())
        kube_api.create(
            {
                "apiVersion": API,
                "kind": "OllamaModelSet",
                "metadata": {"name": "base"},
                "spec": {"models": [{"name": "a"}, {"name": "b"}]},
            }
        )
        kube_api.patch(
            API, "OllamaModelSet", "base", {"status": {"admitted": [NODE]}}, subresource="status"
        )
        seen = agent_writes(kube_api)
        stamps: list[float] = []  # simulated time of each status write

        async def tick() -> None:
            nonlocal seen
            await agent.loop.step()
            await asyncio.sleep(0.01)
            now = agent_writes(kube_api)
            stamps.extend([clock()] * (now - seen))
            seen = now
            clock.advance(1.0)

        for _ in range(3000):
            await tick()
            phases = [a["phase"] for a in agent.activity()]
            if phases == ["Succeeded", "Succeeded"] and not agent.worker.dirty:
                break
        models = agent.node()["status"]["ollama"]["models"]
        assert {"a:latest", "b:latest"} <= {m.split()[0] for m in models}
        assert len(stamps) >= 3, stamps
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert all(g >= 5.0 for g in gaps), stamps
        for _ in range(120):  # two idle minutes
            await tick()
        assert agent_writes(kube_api) == seen
    finally:
        await agent.close()
