"""The agent's benchmark runner against the fake Ollama with fixed, known rates (issue 16, must
show 1 and 2): figures from Ollama's counters equal the configured rates within the noise, the
prompt cache cannot inflate pp, early stops and split placements are flagged, a model that does
not fit or a busy node is skipped with the reason, and stored results are reused by fingerprint
(no generation at the fake) unless forced or something in the fingerprint changed. The
Kubernetes store creates real OllamaBenchmarkResult objects on the in-repo API test server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from obt.agent.bench import BenchRunner, Outcome
from obt.agent.bench_store import (
    FINGERPRINT_LABEL,
    HttpResultStore,
    KubernetesResultStore,
    result_name,
)
from obt.agent.detect import Detector
from obt.agent.sources.nvidia import NvidiaSource
from obt.agent.sources.ollama import OllamaSource
from obt.core.bench import fingerprint, prompts_of, suite_hash
from obt.core.kube import KubeClient, kubeconfig_config
from obt.core.models.benchmark import METHOD_VERSION, OllamaBenchmark, OllamaBenchmarkResultSpec
from obt.core.report import AgentReport
from tests.agent.fake_ollama import LLAMA, QWEN, FakeOllama
from tests.agent.fake_ollama_generate import Rates
from tests.agent.fake_pynvml import FakeNvml
from tests.agent.recorded import FIXTURES, recorded_probe

NODE = "gpu-node-1"
MACHINE = "rtx4060ti-x2-desktop"  # two RTX 4060 Ti 16 GB, NVML power 30.5 + 34.51 W recorded
POWER_W = 30.5 + 34.51
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 3, 20, 0, tzinfo=timezone.utc)
PROMPTS = 3  # the built-in suite


class StepClock:
    """Monotonic time that moves 10 ms per reading: a run's TTFT is exactly 10 ms."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 0.010
        return self.t


class MemoryStore:
    def __init__(self) -> None:
        self.results: dict[str, OllamaBenchmarkResultSpec] = {}
        self.finds: list[str] = []

    async def find(self, fingerprint: str) -> list[tuple[str, OllamaBenchmarkResultSpec]]:
        self.finds.append(fingerprint)
        return [(n, r) for n, r in self.results.items() if r.fingerprint == fingerprint]

    async def write(self, spec: OllamaBenchmarkResultSpec) -> str:
        name = f"result-{len(self.results) + 1}"
        self.results[name] = spec
        return name


def bench(name: str = "bench-a", uid: str | None = "uid-a", **spec: Any) -> OllamaBenchmark:
    return OllamaBenchmark.model_validate(
        {
            "metadata": {"name": name, "uid": uid, "generation": 1},
            "spec": {"models": [{"name": LLAMA["name"]}], "nodes": [NODE], **spec},
        }
    )


async def node_report(ollama: FakeOllama, machine: str = MACHINE) -> AgentReport:
    probe = recorded_probe(machine, ollama_url=ollama.url)
    detector = Detector(probe=probe, mode="kubernetes", sources=[NvidiaSource(), OllamaSource()])
    report = await detector.detect()
    # The recording has the GPUs only: memory and CPU of a desktop like it.
    report.hardware.memory.total_bytes = 64 * (1 << 30)
    report.hardware.cpu.model = "AMD Ryzen 9 7900"
    return report


def nvml() -> ModuleType:
    return cast(ModuleType, FakeNvml.from_file(FIXTURES / MACHINE / "nvml.json"))


class Clocks:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def wall() -> Clocks:
    return Clocks()


@pytest.fixture
def runner_factory(ollama: FakeOllama, wall: Clocks) -> Any:
    def make(**kwargs: Any) -> BenchRunner:
        options: dict[str, Any] = {
            "clock": StepClock(),
            "now": wall,
            "load_nvml": nvml,
            "power_interval": 0.05,
            "nonce": lambda: "n0nce",
        }
        options.update(kwargs)
        return BenchRunner(ollama.url, NODE, **options)

    return make


async def measure(
    runner: BenchRunner, ollama: FakeOllama, store: Any, spec: OllamaBenchmark | None = None
) -> Outcome:
    report = await node_report(ollama)
    return await runner.measure(spec or bench(), str(LLAMA["name"]), report, store)


def within(value: float, target: float, share: float) -> bool:
    return target * (1 - share) - 1e-6 <= value <= target * (1 + share) + 1e-6


# Must show 1: the figures -----------------------------------------------------------------------


async def test_figures_equal_configured_rates_within_noise(ollama, runner_factory) -> None:
    ollama.gen.set_rates(str(LLAMA["name"]), Rates(pp=800.0, tg=40.0, noise=0.05))
    store = MemoryStore()
    outcome = await measure(runner_factory(), ollama, store)
    assert outcome.phase == "Succeeded", outcome
    result = store.results[outcome.result or ""]
    for figure, rate in ((result.pp, 800.0), (result.tg, 40.0)):
        assert figure.n == PROMPTS * 5
        assert within(figure.mean, rate, 0.05)
        assert within(figure.min, rate, 0.05) and within(figure.max, rate, 0.05)
        assert 0 < figure.cv < 0.05
    assert result.ttft_ms.mean == pytest.approx(10.0)
    assert result.flags == []
    assert result.placement == "gpu"
    assert result.generated_tokens == 128 and result.early_stops == 0
    # One warm-up and five measured runs per prompt, every prompt new to Ollama.
    assert ollama.gen.generations == PROMPTS * 6
    assert len(set(ollama.gen.prompts)) == len(ollama.gen.prompts)
    assert ollama.gen.cache_hits == 0
    assert all(p.startswith("[benchmark n0nce-") for p in ollama.gen.prompts)
    assert set(ollama.gen.keep_alives) == {"10m"}
    # Energy: constant power over each run's eval time -> power / tg joules per token.
    assert result.joules_per_token is not None
    energy = result.joules_per_token
    assert POWER_W / (40 * 1.05) - 1e-3 <= energy.min <= energy.max <= POWER_W / (40 * 0.95) + 1e-3
    # The fingerprint: every fact it depends on, and its hash.
    facts = result.facts
    assert facts.model_digest == LLAMA["digest"]
    assert facts.ollama_version == "0.5.7"
    assert facts.gpus == ["NVIDIA GeForce RTX 4060 Ti"] * 2
    assert facts.gpu_driver == "550.54.14"
    assert facts.memory_gib and facts.cpu
    assert facts.suite_hash == suite_hash(prompts_of(bench().spec))
    assert facts.method_version == METHOD_VERSION
    assert result.fingerprint == fingerprint(facts)
    assert result.benchmark == "bench-a" and result.benchmark_uid == "uid-a"
    assert result.measured_at == T0
    # The runner loaded the model, so it unloaded it again.
    assert ollama.loaded == []


async def test_options_and_progress(ollama, runner_factory) -> None:
    spec = bench(options={"numPredict": 64, "extra": {"num_gpu": "99"}}, repetitions=5)
    store = MemoryStore()
    heard: list[str] = []
    report = await node_report(ollama)
    runner = runner_factory()
    outcome = await runner.measure(spec, str(LLAMA["name"]), report, store, heard.append)
    assert outcome.phase == "Succeeded", outcome
    assert store.results[outcome.result or ""].generated_tokens == 64
    assert heard[0] == "loading llama3.1:8b"
    assert heard[-1].startswith("run 15/15 (")
    assert sum(1 for h in heard if h.startswith("warm-up")) == PROMPTS


async def test_a_cancelled_measurement_leaves_the_node_as_found(ollama, runner_factory) -> None:
    import asyncio

    ollama.gen.chunk_delay = 0.05
    report = await node_report(ollama)
    runner = runner_factory()
    measuring = asyncio.Event()

    def heard(message: str) -> None:
        if message.startswith("run "):
            measuring.set()

    task = asyncio.ensure_future(
        runner.measure(bench(), str(LLAMA["name"]), report, MemoryStore(), heard)
    )
    await asyncio.wait_for(measuring.wait(), 30)
    await asyncio.sleep(0.05)  # the first measured run is streaming now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ollama.loaded == []


async def test_unique_prompts_defeat_a_cache_that_would_inflate_pp(ollama, runner_factory) -> None:
    # The worst server: a cached prompt is counted whole though one token was evaluated.
    ollama.gen.cache_report = "full-count"
    ollama.gen.set_rates(str(LLAMA["name"]), Rates(pp=500.0, tg=30.0))
    store = MemoryStore()
    outcome = await measure(runner_factory(), ollama, store)
    result = store.results[outcome.result or ""]
    assert ollama.gen.cache_hits == 0
    assert result.pp.mean == pytest.approx(500.0, rel=1e-3)
    assert "prompt-cached" not in result.flags


@pytest.mark.parametrize("report", ["cached-count", "short-count"])
async def test_a_cached_prompt_does_not_count_as_fast_prompt_processing(
    ollama, runner_factory, report
) -> None:
    """Unique prompts off (test hook): repetitions of the same prompt come from the fake's
    cache; the counters show it (prompt_eval_cached_count, or a prompt_eval_count short of the
    warm-up's), the result is flagged and pp is not inflated."""
    ollama.gen.cache_report = report
    ollama.gen.set_rates(str(LLAMA["name"]), Rates(pp=500.0, tg=30.0))
    store = MemoryStore()
    outcome = await measure(runner_factory(unique_prompts=False), ollama, store)
    result = store.results[outcome.result or ""]
    assert ollama.gen.cache_hits == PROMPTS * 5  # every measured run came from the cache
    assert "prompt-cached" in result.flags
    assert result.pp.mean <= 500.0 * 1.001


async def test_without_unique_prompts_a_whole_count_cache_inflates_pp(
    ollama, runner_factory
) -> None:
    """Why rule 1 exists: no counter reveals this server's cache; only new prompts avoid it."""
    ollama.gen.cache_report = "full-count"
    ollama.gen.set_rates(str(LLAMA["name"]), Rates(pp=500.0, tg=30.0))
    store = MemoryStore()
    outcome = await measure(runner_factory(unique_prompts=False), ollama, store)
    result = store.results[outcome.result or ""]
    assert result.pp.mean > 5 * 500.0


async def test_an_early_stop_is_flagged(ollama, runner_factory) -> None:
    ollama.gen.set_rates(str(LLAMA["name"]), Rates(pp=800.0, tg=40.0, stop_after=20))
    store = MemoryStore()
    outcome = await measure(runner_factory(), ollama, store)
    result = store.results[outcome.result or ""]
    assert "early-stop" in result.flags
    assert result.early_stops == PROMPTS * 5
    assert result.generated_tokens == 20
    assert "early-stop" in outcome.message


async def test_a_model_that_does_not_fit_is_skipped_with_both_sizes(ollama, runner_factory) -> None:
    huge = {**LLAMA, "size": 400 * (1 << 30)}
    ollama.models = [huge]
    outcome = await measure(runner_factory(), ollama, MemoryStore())
    assert (outcome.phase, outcome.reason) == ("Skipped", "DoesNotFit")
    assert "480.0 GiB" in outcome.message  # 400 GiB x1.2
    assert "32.0 GiB VRAM" in outcome.message and "RAM" in outcome.message
    assert ollama.gen.generations == 0 and ollama.gen.cold_loads == 0


async def test_a_model_not_installed_is_skipped(ollama, runner_factory) -> None:
    ollama.models = [QWEN]
    outcome = await measure(runner_factory(), ollama, MemoryStore())
    assert (outcome.phase, outcome.reason) == ("Skipped", "NotInstalled")


async def test_a_split_placement_is_labelled(ollama, runner_factory) -> None:
    ollama.gen.split[str(LLAMA["name"])] = 0.6
    store = MemoryStore()
    outcome = await measure(runner_factory(), ollama, store)
    result = store.results[outcome.result or ""]
    assert result.placement == "split" and result.facts.placement == "split"
    assert "split" in result.flags
    assert result.size_vram_bytes is not None and result.size_bytes is not None
    assert result.size_vram_bytes < result.size_bytes


async def test_a_cold_load_is_reported_apart(ollama, runner_factory) -> None:
    ollama.gen.set_rates(str(LLAMA["name"]), Rates(load_ms=2345.0))
    store = MemoryStore()
    outcome = await measure(runner_factory(), ollama, store, bench(coldLoad=True))
    result = store.results[outcome.result or ""]
    assert result.load_ms == pytest.approx(2345.0)
    assert ollama.gen.cold_loads == 2  # placement's load, then the cold one


async def test_an_ollama_error_fails_the_pair(ollama, runner_factory) -> None:
    ollama.gen.fail_with = "llama runner process has terminated: exit status 2"
    outcome = await measure(runner_factory(), ollama, MemoryStore())
    assert (outcome.phase, outcome.reason) == ("Failed", "OllamaError")
    assert "llama runner process has terminated" in outcome.message
    assert ollama.loaded == []  # unloaded all the same


# Busy -------------------------------------------------------------------------------------------


def someone_loads(ollama: FakeOllama, gib: int) -> None:
    size = gib * (1 << 30)
    ollama.models.append(QWEN)
    ollama.loaded.append({**QWEN, "size": size, "size_vram": size, "context_length": 4096})


async def test_a_node_with_someone_elses_model_in_the_way_is_busy(ollama, runner_factory) -> None:
    someone_loads(ollama, 28)  # 28 of 32 GiB VRAM taken; llama needs ~5.5 GiB
    outcome = await measure(runner_factory(), ollama, MemoryStore())
    assert (outcome.phase, outcome.reason) == ("Skipped", "Busy")
    assert QWEN["name"] in outcome.message
    assert ollama.gen.generations == 0
    assert [m["name"] for m in ollama.loaded] == [QWEN["name"]]  # never unloaded


async def test_evict_unloads_to_make_room(ollama, runner_factory) -> None:
    someone_loads(ollama, 28)
    outcome = await measure(runner_factory(), ollama, MemoryStore(), bench(evict=True))
    assert outcome.phase == "Succeeded", outcome
    assert ollama.loaded == []


async def test_a_model_loaded_beside_with_room_left_is_no_obstacle(ollama, runner_factory) -> None:
    someone_loads(ollama, 4)
    outcome = await measure(runner_factory(), ollama, MemoryStore())
    assert outcome.phase == "Succeeded", outcome
    assert [m["name"] for m in ollama.loaded] == [QWEN["name"]]


# Must show 2: caching by fingerprint ------------------------------------------------------------


async def test_a_second_identical_benchmark_reuses_the_result(ollama, runner_factory, wall) -> None:
    store = MemoryStore()
    runner = runner_factory()
    first = await measure(runner, ollama, store, bench("bench-a", "uid-a"))
    assert first.phase == "Succeeded" and not first.cached
    generations = ollama.gen.generations
    wall.now = T0 + timedelta(days=6)
    second = await measure(runner, ollama, store, bench("bench-b", "uid-b"))
    assert second.phase == "Succeeded" and second.cached
    assert ollama.gen.generations == generations, "a cache hit ran the model"
    reused = store.results[second.result or ""]
    assert reused.cached and reused.reused_from == first.result
    assert (reused.benchmark, reused.benchmark_uid) == ("bench-b", "uid-b")
    assert reused.fingerprint == store.results[first.result or ""].fingerprint
    assert reused.measured_at == T0  # when it was measured, not when reused
    # A reused result is never reused in turn, and an old one not at all.
    wall.now = T0 + timedelta(days=8)
    third = await measure(runner, ollama, store, bench("bench-c", "uid-c"))
    assert not third.cached and ollama.gen.generations > generations


async def test_force_runs_anyway(ollama, runner_factory) -> None:
    store = MemoryStore()
    runner = runner_factory()
    await measure(runner, ollama, store)
    generations = ollama.gen.generations
    forced = await measure(runner, ollama, store, bench("bench-b", force=True))
    assert not forced.cached
    assert ollama.gen.generations == generations + PROMPTS * 6


@pytest.mark.parametrize("change", ["digest", "version"])
async def test_a_changed_digest_or_ollama_version_runs(ollama, runner_factory, change) -> None:
    store = MemoryStore()
    runner = runner_factory()
    first = await measure(runner, ollama, store)
    generations = ollama.gen.generations
    if change == "digest":
        ollama.models = [{**LLAMA, "digest": "0" * 64}]
    else:
        ollama.version = "0.6.0"
    again = await measure(runner, ollama, store, bench("bench-b"))
    assert again.phase == "Succeeded" and not again.cached
    assert ollama.gen.generations == generations + PROMPTS * 6
    assert (
        store.results[again.result or ""].fingerprint
        != store.results[first.result or ""].fingerprint
    )


async def test_another_nodes_result_is_not_reused(ollama, runner_factory) -> None:
    store = MemoryStore()
    await measure(runner_factory(), ollama, store)
    other = BenchRunner(ollama.url, "gpu-node-2", now=lambda: T0, nonce=lambda: "x")
    generations = ollama.gen.generations
    outcome = await other.measure(
        bench("bench-b"), str(LLAMA["name"]), await node_report(ollama), store
    )
    assert not outcome.cached and ollama.gen.generations > generations


# The Kubernetes store ---------------------------------------------------------------------------


def test_result_names_are_dns_subdomains() -> None:
    assert (
        result_name("b1", "gpu-node-1", "llama3.1:8b", "ab12c") == "b1-gpu-node-1-llama3.1-8b-ab12c"
    )
    assert (
        result_name("B", "n", "hf.co/Org/Model_X:Q4", "zzzzz") == "b-n-hf.co-org-model-x-q4-zzzzz"
    )
    long = result_name("b" * 200, "n" * 100, "m:latest", "abcde")
    assert len(long) <= 253 and long.endswith("-abcde") and long[0].isalnum()


async def test_kubernetes_store_creates_owned_labelled_results_and_finds_them(
    kube_api, ollama, runner_factory
) -> None:
    kube_api.load_crds(
        [REPO / "crds" / "ollamabenchmark.yaml", REPO / "crds" / "ollamabenchmarkresult.yaml"]
    )
    created = kube_api.create(bench(uid=None).to_wire())
    owner = OllamaBenchmark.model_validate(created)
    kube = KubeClient(kubeconfig_config(kube_api.kubeconfig), timeout=5.0)
    try:
        runner = runner_factory()
        first = await measure(runner, ollama, KubernetesResultStore(kube, owner), owner)
        assert first.phase == "Succeeded", first
        obj = kube_api.get("obt.dev/v1alpha1", "OllamaBenchmarkResult", first.result)
        labels = obj["metadata"]["labels"]
        spec = OllamaBenchmarkResultSpec.model_validate(obj["spec"])
        assert labels == {
            "obt.dev/benchmark": "bench-a",
            "obt.dev/node": NODE,
            FINGERPRINT_LABEL: spec.fingerprint[:63],
        }
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "obt.dev/v1alpha1",
                "kind": "OllamaBenchmark",
                "name": "bench-a",
                "uid": created["metadata"]["uid"],
                "controller": False,
                "blockOwnerDeletion": False,
            }
        ]
        assert first.result and first.result.startswith("bench-a-gpu-node-1-llama3.1-8b-")
        assert spec.benchmark_uid == created["metadata"]["uid"]
        # A second benchmark finds it by the fingerprint label and reuses it.
        created_b = kube_api.create(bench("bench-b", uid=None).to_wire())
        owner_b = OllamaBenchmark.model_validate(created_b)
        generations = ollama.gen.generations
        second = await measure(runner, ollama, KubernetesResultStore(kube, owner_b), owner_b)
        assert second.cached and ollama.gen.generations == generations
        reused = kube_api.get("obt.dev/v1alpha1", "OllamaBenchmarkResult", second.result)
        assert reused["spec"]["cached"] is True
        assert reused["spec"]["reusedFrom"] == first.result
        assert reused["metadata"]["ownerReferences"][0]["name"] == "bench-b"
    finally:
        await kube.close()


# The HTTP store (standalone agents) -------------------------------------------------------------


async def test_http_store_uses_the_agent_routes(ollama, runner_factory) -> None:
    """GET/POST /api/v1/agents/{name}/benchmark-results with the node token, as the API serves
    them (a stand-in here; the API's own tests cover its side)."""
    from aiohttp import ClientSession, web

    stored: list[dict[str, Any]] = []
    seen: list[tuple[str, str, str | None]] = []

    async def listing(request: web.Request) -> web.Response:
        seen.append(("GET", request.path_qs, request.headers.get("Authorization")))
        wanted = request.query.get("fingerprint")
        return web.json_response([r for r in stored if r["spec"]["fingerprint"] == wanted])

    async def create(request: web.Request) -> web.Response:
        seen.append(("POST", request.path, request.headers.get("Authorization")))
        name = f"r{len(stored) + 1}"
        stored.append({"name": name, "spec": await request.json()})
        return web.json_response({"name": name}, status=201)

    app = web.Application()
    app.router.add_get(f"/api/v1/agents/{NODE}/benchmark-results", listing)
    app.router.add_post(f"/api/v1/agents/{NODE}/benchmark-results", create)
    server = web.AppRunner(app, access_log=None)
    await server.setup()
    site = web.TCPSite(server, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with ClientSession() as session:

            async def call(method: str, path: str, body: Any) -> Any:
                headers = {"Authorization": "Bearer node-token"}
                url = f"http://127.0.0.1:{port}{path}"
                async with session.request(method, url, json=body, headers=headers) as response:
                    response.raise_for_status()
                    return await response.json()

            store = HttpResultStore(call, NODE)
            runner = runner_factory()
            first = await measure(runner, ollama, store)
            assert (first.phase, first.result) == ("Succeeded", "r1")
            second = await measure(runner, ollama, store, bench("bench-b"))
            assert second.cached and second.result == "r2"
            assert stored[1]["spec"]["reusedFrom"] == "r1"
    finally:
        await server.cleanup()
    assert [s[0] for s in seen] == ["GET", "POST", "GET", "POST"]
    assert all(s[2] == "Bearer node-token" for s in seen)
    assert seen[0][1].startswith(f"/api/v1/agents/{NODE}/benchmark-results?fingerprint=")


async def test_a_pinned_model_stays_pinned(ollama, runner_factory) -> None:
    """A model someone loaded with keep_alive -1 (a keepLoaded set) is measured with -1: every
    request sets keep_alive anew, and anything else would let it expire afterwards."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        body = {"model": LLAMA["name"], "prompt": "", "keep_alive": -1, "stream": False}
        async with session.post(ollama.url + "/api/generate", json=body) as response:
            assert response.status == 200
    outcome = await measure(runner_factory(), ollama, MemoryStore())
    assert outcome.phase == "Succeeded", outcome
    assert set(ollama.gen.keep_alives[1:]) == {-1}
    (entry,) = ollama.loaded
    assert entry["expires_at"].startswith("2318")  # still loaded, still pinned
