"""Benchmark steps in the agent's work loop: the Worker runs `Step(action="benchmark")` with the
BenchRunner, one measurement at a time, and records each in the node's activity with its phase,
reason and `result`; a cancelled benchmark stops its measurement. Kubernetes mode watches
OllamaBenchmarks and creates the OllamaBenchmarkResult objects on the API test server; HTTP
mode takes benchmarks from the /work answer."""

from __future__ import annotations

import asyncio
from typing import Any

from obt.agent.bench import BenchRunner, BenchSupport
from obt.agent.bench_store import HttpResultStore, KubernetesResultStore
from obt.agent.reporters.http_work import parse_benchmarks
from obt.core.models.benchmark import OllamaBenchmark
from tests.agent.fake_ollama import LLAMA, QWEN
from tests.agent.test_bench_runner import MemoryStore, node_report
from tests.agent.test_kubernetes_work import API, NODE, Agent, install_kinds
from tests.agent.test_worker import Harness

MODELS = [str(LLAMA["name"]), str(QWEN["name"])]


def benchmark(name: str = "bench-a", **spec: Any) -> OllamaBenchmark:
    return OllamaBenchmark.model_validate(
        {
            "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
            "spec": {"models": [{"name": m} for m in MODELS], "nodes": ["gpu-1"], **spec},
        }
    )


async def harness(ollama: Any, clock: Any) -> tuple[Harness, MemoryStore]:
    h = Harness(ollama, clock)
    store = MemoryStore()
    runner = BenchRunner(ollama.url, "gpu-1", load_nvml=None, nonce=lambda: "w")
    h.worker.bench = BenchSupport(runner, lambda _: store, lambda: "gpu-1")
    h.worker.set_report(await node_report(ollama))
    h.work()
    return h, store


async def test_benchmark_steps_run_one_at_a_time_into_the_activity(ollama, clock) -> None:
    h, store = await harness(ollama, clock)
    try:
        h.worker.set_benchmarks([benchmark()])
        await h.run(
            lambda: all(a.finished for a in h.worker.activity) and len(h.worker.activity) == 2
        )
        await h.settle()
        llama = h.entry("benchmark", MODELS[0])
        qwen = h.entry("benchmark", MODELS[1])
        assert (llama.phase, llama.result) == ("Succeeded", "result-1")
        assert llama.source_kind == "OllamaBenchmark" and llama.source_uid == "uid-bench-a"
        assert llama.digest == LLAMA["digest"]
        assert "pp " in llama.message and "tg " in llama.message
        assert (qwen.phase, qwen.reason) == ("Skipped", "NotInstalled")  # only llama installed
        assert store.results["result-1"].node == "gpu-1"
        assert h.sink.last == h.worker.activity
        generations = ollama.gen.generations
        for _ in range(10):  # finished: not measured again
            await h.worker.step()
            clock.advance(5)
        assert ollama.gen.generations == generations
    finally:
        await h.close()


async def test_a_cancelled_benchmark_stops_its_measurement(ollama, clock) -> None:
    h, _ = await harness(ollama, clock)
    ollama.gen.chunk_delay = 0.02
    try:
        h.worker.set_benchmarks([benchmark()])
        await h.run(lambda: ollama.gen.generations > 0)
        h.worker.set_benchmarks([benchmark(cancel=True)])
        await h.run(lambda: h.entry("benchmark", MODELS[0]).finished)
        entry = h.entry("benchmark", MODELS[0])
        assert entry.phase == "Cancelled" and "cancelled" in entry.message
        assert ollama.loaded == []  # the runner unloaded what it loaded
    finally:
        await h.close()


async def test_a_benchmark_without_a_runner_fails_plainly(ollama, clock) -> None:
    h, _ = await harness(ollama, clock)
    h.worker.bench = None
    try:
        h.worker.set_benchmarks([benchmark(models=[{"name": MODELS[0]}])])
        await h.run(lambda: bool(h.worker.activity) and h.worker.activity[0].finished)
        assert (h.worker.activity[0].phase, h.worker.activity[0].reason) == (
            "Failed",
            "NotSupported",
        )
    finally:
        await h.close()


def test_the_work_answer_carries_benchmarks() -> None:
    wire = benchmark().to_wire()
    assert parse_benchmarks({"tasks": []}) is None  # an API without benchmarks: none planned
    parsed = parse_benchmarks({"benchmarks": [wire, {"metadata": {"name": "bad"}}]})
    assert parsed is not None and [b.metadata.name for b in parsed] == ["bench-a"]


async def test_kubernetes_mode_watches_benchmarks_and_writes_results(
    kube_api, ollama, clock
) -> None:
    install_kinds(kube_api)
    kube_api.set_node_ready(NODE)
    agent = Agent(kube_api, ollama, clock)
    runner = BenchRunner(ollama.url, NODE, load_nvml=None, nonce=lambda: "k")
    kube = agent.work.kube
    agent.worker.bench = BenchSupport(
        runner, lambda bench: KubernetesResultStore(kube, bench), lambda: NODE
    )
    try:
        await agent.run_until(lambda: agent.reporter.ensured and agent.worker.tasks is not None)
        created = kube_api.create(
            {
                "apiVersion": API,
                "kind": "OllamaBenchmark",
                "metadata": {"name": "speed"},
                "spec": {"models": [{"name": MODELS[0]}], "nodes": [NODE]},
            }
        )

        def done() -> bool:
            return any(
                a["source"] == "speed" and a["phase"] == "Succeeded" for a in agent.activity()
            )

        await agent.run_until(done)
        entry = next(a for a in agent.activity() if a["source"] == "speed")
        assert entry["sourceKind"] == "OllamaBenchmark" and entry["action"] == "benchmark"
        result = kube_api.get(API, "OllamaBenchmarkResult", entry["result"])
        assert result["spec"]["node"] == NODE and result["spec"]["benchmark"] == "speed"
        owner = result["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"]) == ("OllamaBenchmark", created["metadata"]["uid"])
        assert result["metadata"]["labels"]["obt.dev/node"] == NODE
        await asyncio.sleep(0)
    finally:
        await agent.close()


async def test_http_mode_takes_benchmarks_from_work_and_posts_results(
    ollama, clock, tmp_path
) -> None:
    from tests.agent.fake_obt_api import FakeObtApi
    from tests.agent.test_http_work import HOST, make_agent, run_until

    api = await FakeObtApi().start()
    loop, reporter, worker = await make_agent(api, ollama, clock, tmp_path)
    http = reporter

    def node_name() -> str:
        return http.credentials.node_name if http.credentials else HOST

    runner = BenchRunner(ollama.url, HOST, load_nvml=None, nonce=lambda: "h")
    worker.bench = BenchSupport(
        runner, lambda _: HttpResultStore(http.call_json, node_name()), node_name
    )
    try:
        wire = benchmark("speed", models=[{"name": MODELS[0]}], nodes=[HOST]).to_wire()
        api.benchmarks = [wire]
        api.work_generation = 1

        def measured() -> bool:
            entries = api.activity.get(HOST) or []
            return any(e["source"] == "speed" and e["phase"] == "Succeeded" for e in entries)

        await run_until(loop, clock, measured)
        (result,) = api.results
        assert result["node"] == HOST and result["spec"]["benchmark"] == "speed"
        entry = next(e for e in api.activity[HOST] if e["source"] == "speed")
        assert entry["result"] == result["name"]
        assert api.count("GET", "/benchmark-results") == 1  # the cache lookup
        # A second benchmark with the same fingerprint reuses it: no generation.
        generations = ollama.gen.generations
        api.benchmarks = [
            wire,
            benchmark("again", models=[{"name": MODELS[0]}], nodes=[HOST]).to_wire(),
        ]
        api.bump()

        def reused() -> bool:
            entries = api.activity.get(HOST) or []
            return any(e["source"] == "again" and e["phase"] == "Succeeded" for e in entries)

        await run_until(loop, clock, reused)
        assert ollama.gen.generations == generations
        assert api.results[1]["spec"]["cached"] is True
    finally:
        await reporter.close()
        await api.stop()
