"""Kubernetes mode against the API test server (tests/support): the agent creates its OllamaNode
owned by its Node, writes only on change (counted from the server's request log over simulated
minutes), and /readyz follows the API server's health (fault injection)."""

from __future__ import annotations

import aiohttp

from obt.agent.detect import Detector
from obt.agent.health import Health
from obt.agent.reporters.http import USER_AGENT
from obt.agent.reporters.kubernetes import KubernetesReporter
from obt.agent.runner import AgentLoop
from obt.agent.server import make_app, start_server
from obt.agent.sources import default_sources
from obt.core.kube import KubeClient, kubeconfig_config
from tests.agent.fake_ollama import QWEN
from tests.agent.recorded import recorded_probe

NODE = "gpu-node-1"
INTERVAL = 15.0


def make_agent(kube_api, ollama, clock, machine: str = "rtx4060ti-x2-desktop"):
    probe = recorded_probe(machine, ollama_url=ollama.url)
    detector = Detector(
        probe=probe,
        mode="kubernetes",
        pod_name="obt-agent-x7k2p",
        pod_namespace="obt",
        sources=default_sources(),
    )
    health = Health(interval=INTERVAL, clock=clock, ready_cycles=3, failure_threshold=2)
    kube = KubeClient(kubeconfig_config(kube_api.kubeconfig), user_agent=USER_AGENT, timeout=1.0)
    reporter = KubernetesReporter(kube, NODE, health, clock, check_interval=60)
    loop = AgentLoop(detector, reporter, health, interval=INTERVAL, clock=clock)
    return loop, reporter, health


async def run_cycles(loop, clock, minutes: float) -> None:
    """Simulated time: one loop step per detection interval."""
    for _ in range(round(minutes * 60 / INTERVAL)):
        clock.advance(INTERVAL)
        await loop.step()


def agent_writes(kube_api):
    return kube_api.writes(user_agent_contains="obt-agent", resource="ollamanodes")


async def test_creates_owned_ollamanode_then_writes_only_on_change(kube_api, ollama, clock) -> None:
    node = kube_api.set_node_ready(NODE)
    loop, reporter, health = make_agent(kube_api, ollama, clock)
    try:
        assert await loop.step() is True
        obj = kube_api.get("obt.dev/v1alpha1", "OllamaNode", NODE)
        assert obj["spec"] == {"source": "daemonset", "nodeName": NODE}
        assert obj["metadata"]["labels"]["obt.dev/source"] == "daemonset"
        (owner,) = obj["metadata"]["ownerReferences"]
        assert owner == {
            "apiVersion": "v1",
            "kind": "Node",
            "name": NODE,
            "uid": node["metadata"]["uid"],
            "controller": False,
            "blockOwnerDeletion": False,
        }
        status = obj["status"]
        assert status["hardware"]["gpus"][0]["name"] == "NVIDIA GeForce RTX 4060 Ti"
        assert status["summary"]["gpus"] == "2x RTX 4060 Ti 16GB"
        assert status["ollama"]["version"] == "0.5.7"
        assert status["agent"]["podName"] == "obt-agent-x7k2p"
        first = agent_writes(kube_api)
        assert [(w.verb, w.subresource) for w in first] == [("create", ""), ("patch", "status")]

        await run_cycles(loop, clock, 10)  # ten idle minutes (expires_at moves every cycle)
        assert agent_writes(kube_api) == first, "idle node wrote to the API server"
        assert health.readiness() == (True, "ok")

        ollama.load(QWEN)  # a model is loaded: exactly one write
        await run_cycles(loop, clock, 2)
        writes = agent_writes(kube_api)
        assert len(writes) == len(first) + 1
        assert (writes[-1].verb, writes[-1].subresource) == ("patch", "status")
        obj = kube_api.get("obt.dev/v1alpha1", "OllamaNode", NODE)
        assert obj["status"]["summary"]["loaded"] == 1

        ollama.pull({**QWEN, "name": "qwen2.5:1.5b", "model": "qwen2.5:1.5b"})  # pulled: one more
        await run_cycles(loop, clock, 2)
        assert len(agent_writes(kube_api)) == len(first) + 2
    finally:
        await reporter.close()


async def test_operator_fields_are_left_alone(kube_api, ollama, clock) -> None:
    kube_api.set_node_ready(NODE)
    loop, reporter, _ = make_agent(kube_api, ollama, clock)
    try:
        await loop.step()
        kube_api.patch(
            "obt.dev/v1alpha1",
            "OllamaNode",
            NODE,
            {"status": {"phase": "Ready"}},
            subresource="status",
        )
        ollama.load(QWEN)
        await run_cycles(loop, clock, 1)
        obj = kube_api.get("obt.dev/v1alpha1", "OllamaNode", NODE)
        assert obj["status"]["phase"] == "Ready"
        assert obj["status"]["summary"]["loaded"] == 1
    finally:
        await reporter.close()


async def test_restarted_agent_with_unchanged_findings_writes_nothing(
    kube_api, ollama, clock
) -> None:
    kube_api.set_node_ready(NODE)
    loop, reporter, _ = make_agent(kube_api, ollama, clock)
    await loop.step()
    started_at = loop.detector.started_at
    await reporter.close()
    before = len(agent_writes(kube_api))
    again, reporter2, _ = make_agent(kube_api, ollama, clock)
    again.detector.started_at = started_at  # same process start: nothing differs
    try:
        await again.step()
        await run_cycles(again, clock, 2)
        assert len(agent_writes(kube_api)) == before
    finally:
        await reporter2.close()


async def test_wiped_status_and_deleted_object_are_restored(kube_api, ollama, clock) -> None:
    kube_api.set_node_ready(NODE)
    loop, reporter, _ = make_agent(kube_api, ollama, clock)
    try:
        await loop.step()
        kube_api.delete("obt.dev/v1alpha1", "OllamaNode", NODE)
        await run_cycles(loop, clock, 2)  # the next cache read notices (within api_check_interval)
        obj = kube_api.get("obt.dev/v1alpha1", "OllamaNode", NODE)
        assert obj is not None and obj["status"]["hardware"]["gpus"]
    finally:
        await reporter.close()


async def test_readyz_follows_the_api_server(kube_api, ollama, clock) -> None:
    kube_api.set_node_ready(NODE)
    loop, reporter, health = make_agent(kube_api, ollama, clock)
    app_runner = await start_server(make_app(loop.detector, health, lambda: 0), "127.0.0.1", 0)
    port = app_runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def probe(path: str) -> int:
                async with http.get(url + path) as response:
                    return response.status

            assert await probe("/readyz") == 503  # no cycle yet
            assert await probe("/healthz") == 200
            await loop.step()
            assert await probe("/readyz") == 200

            kube_api.faults.pause()  # the API server stops answering
            await run_cycles(loop, clock, 2)  # the cache read times out, then retries each cycle
            assert await probe("/readyz") == 503
            assert await probe("/healthz") == 200  # alive, just not ready

            kube_api.faults.resume()
            await run_cycles(loop, clock, 0.25)
            assert await probe("/readyz") == 200

            kube_api.faults.fail(500, seconds=600)  # errors instead of silence
            await run_cycles(loop, clock, 2)
            assert await probe("/readyz") == 503
            kube_api.faults.heal()
            await run_cycles(loop, clock, 0.25)
            assert await probe("/readyz") == 200

            async with http.get(url + "/metrics") as response:
                text = await response.text()
            assert "# TYPE obt_gpu_temperature_celsius gauge" in text
            assert (
                'obt_gpu_power_watts{gpu="0",name="NVIDIA GeForce RTX 4060 Ti",vendor="nvidia"} 30.5'
                in text
            )
            assert "obt_agent_ready 1" in text
    finally:
        kube_api.faults.heal()
        await app_runner.cleanup()
        await reporter.close()


async def test_detection_loop_stalling_makes_it_unready(kube_api, ollama, clock) -> None:
    kube_api.set_node_ready(NODE)
    loop, reporter, health = make_agent(kube_api, ollama, clock)
    try:
        await loop.step()
        clock.advance(3 * INTERVAL + 1)  # no cycle completed within 3 intervals
        ready, reason = health.readiness()
        assert not ready and "last detection cycle" in reason
    finally:
        await reporter.close()


def agent_requests(kube_api):
    return [r for r in list(kube_api.requests) if "obt-agent" in r.user_agent]


async def test_429_backs_off_for_retry_after_then_delivers(kube_api, ollama, clock) -> None:
    kube_api.set_node_ready(NODE)
    loop, reporter, health = make_agent(kube_api, ollama, clock)
    try:
        assert await loop.step() is True
        kube_api.faults.fail(status=429, seconds=600)  # answers 429 with Retry-After: 1
        ollama.load(QWEN)
        clock.advance(INTERVAL)
        before = len(agent_requests(kube_api))
        assert await loop.step() is False
        throttled = agent_requests(kube_api)[before:]
        assert len(throttled) == 1  # one request, answered 429, then it waits
        assert health.last_error is not None and health.last_error.startswith("429")
        assert reporter.next_due() == clock() + 1.0  # the loop sleeps until Retry-After passes

        kube_api.faults.heal()
        for _ in range(5):  # within the second the server asked for: nothing is sent
            clock.advance(0.15)
            assert await reporter.step() is False
        assert len(agent_requests(kube_api)) == before + 1

        clock.advance(0.3)  # Retry-After has passed
        assert await reporter.step() is True
        assert health.readiness() == (True, "ok")
        obj = kube_api.get("obt.dev/v1alpha1", "OllamaNode", NODE)
        assert obj["status"]["summary"]["loaded"] == 1
    finally:
        kube_api.faults.heal()
        await reporter.close()


async def test_retry_after_is_bounded(kube_api, ollama, clock) -> None:
    kube_api.set_node_ready(NODE)
    loop, reporter, _ = make_agent(kube_api, ollama, clock)
    reporter.max_retry_after = 0.25  # the server's 1 s is capped here
    try:
        assert await loop.step() is True
        kube_api.faults.fail(status=429, seconds=600)
        ollama.load(QWEN)
        clock.advance(INTERVAL)
        assert await loop.step() is False
        assert reporter.next_due() == clock() + 0.25
        kube_api.faults.heal()
        clock.advance(0.25)
        assert await reporter.step() is True
    finally:
        kube_api.faults.heal()
        await reporter.close()
