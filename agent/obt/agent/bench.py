"""Measuring one model on this node for an OllamaBenchmark (docs/benchmarks.md has the method,
docs/agent.md "Benchmarks" what the agent does).

The rules are obt.core.bench's pure functions; this module does the requests around them:
1. the model must be installed (else Skipped NotInstalled) and fit the node's VRAM + RAM
   (`fits`; else Skipped DoesNotFit, both sizes named);
2. Busy: when models someone else loaded would have to make room (they and this model exceed
   the GPU memory, or the RAM on a node without GPUs), the node is skipped with reason Busy;
   only `spec.evict` lets the agent unload them. A cold load of a model someone else has loaded
   is the same disturbance;
3. the model is loaded (an empty prompt) and `/api/ps` tells its placement; the fingerprint's
   facts are the model digest (full, from /api/tags), the Ollama version, the node's GPUs,
   driver, CPU and memory, the placement, the options, the prompts' hash and METHOD_VERSION;
4. a stored result of this node with that fingerprint, measured and younger than maxAge, is
   reused (`cache_hit`) without generating anything, unless `spec.force`;
5. otherwise: an optional cold load (unload, then the first warm-up's `load_duration`), then for
   each prompt its warm-up runs and `repetitions` measured runs, every prompt made unique, each
   a streaming `/api/generate` timed to its first non-empty chunk, with NVML power sampled
   during generation on NVIDIA nodes; `summarize` turns the runs into the figures;
6. a model this runner loaded is unloaded again at the end: the node is left as it was found.

Time is injectable (`clock` for time to first token, `now` for ages) so tests are exact.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any, Literal, Protocol

import aiohttp

from obt.agent.sources.base import import_pynvml
from obt.agent.sources.ollama import parse_time
from obt.core.bench import (
    FIT_MARGIN,
    Run,
    cache_hit,
    fingerprint,
    fits,
    joules,
    placement,
    prompts_of,
    run_from_response,
    suite_hash,
    summarize,
    unique_prompt,
)
from obt.core.model_names import normalize_model_name
from obt.core.models.benchmark import (
    Fingerprint,
    OllamaBenchmark,
    OllamaBenchmarkResultSpec,
    Placement,
    ResultFlag,
)
from obt.core.report import AgentReport

log = logging.getLogger(__name__)

GIB = 1 << 30
# Models stay loaded between runs; the runner unloads what it loaded when it is done. Every
# request sets the model's keep_alive anew, so a model someone pinned (keep_alive -1, as
# keepLoaded sets do) is measured with -1: it stays pinned afterwards.
RUN_KEEP_ALIVE = "10m"
PINNED = -1
PINNED_AFTER = timedelta(days=365 * 50)  # /api/ps shows a pinned model expiring centuries on
OutcomePhase = Literal["Succeeded", "Skipped", "Failed"]


class ResultStore(Protocol):
    """Where results go: OllamaBenchmarkResult objects (Kubernetes) or the API (standalone)."""

    async def find(self, fingerprint: str) -> list[tuple[str, OllamaBenchmarkResultSpec]]: ...

    async def write(self, spec: OllamaBenchmarkResultSpec) -> str: ...


@dataclass(frozen=True)
class Outcome:
    """How one (node, model) measurement ended: the phase, reason and message of its activity
    entry, and the result written."""

    phase: OutcomePhase
    reason: str | None = None
    message: str = ""
    result: str | None = None
    spec: OllamaBenchmarkResultSpec | None = None

    @property
    def cached(self) -> bool:
        return self.spec is not None and self.spec.cached


@dataclass
class BenchSupport:
    """What the Worker needs to run benchmark steps: the runner, where results go (per
    benchmark: Kubernetes results are owned by it) and this node's name (a standalone agent
    learns it at enrollment)."""

    runner: BenchRunner
    store: Callable[[OllamaBenchmark], ResultStore]
    node_name: Callable[[], str]


class Stop(Exception):
    """Ends a measurement early with an outcome (skip or failure)."""

    def __init__(self, phase: OutcomePhase, reason: str, message: str) -> None:
        super().__init__(message)
        self.outcome = Outcome(phase, reason, message)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


class PowerSampler:
    """NVML power of every NVIDIA GPU (watts, summed), sampled every `interval` seconds while a
    run generates; `joules` turns the samples into energy over Ollama's eval time."""

    def __init__(self, nvml: ModuleType, interval: float = 0.1) -> None:
        self.nvml = nvml
        self.interval = interval
        self.handles = [
            nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())
        ]
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def read(self) -> None:
        try:
            milliwatts = sum(self.nvml.nvmlDeviceGetPowerUsage(h) for h in self.handles)
        except Exception as exc:  # NVMLError_NotSupported on some boards: no energy figure
            log.debug("bench: NVML power unreadable: %s", exc)
            return
        self.samples.append(milliwatts / 1000)

    def start(self) -> None:
        self.samples = []
        self.read()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.read()

    async def stop(self) -> list[float]:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self.read()
        return self.samples


class OllamaFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BenchRunner:
    """Measures (benchmark, model) pairs on this node, one at a time."""

    def __init__(
        self,
        ollama_url: str,
        node_name: str,
        *,
        clock: Callable[[], float] = time.perf_counter,
        now: Callable[[], datetime] = utc_now,
        load_nvml: Callable[[], ModuleType] | None = import_pynvml,
        power_interval: float = 0.1,
        nonce: Callable[[], str] = lambda: secrets.token_hex(4),
        unique_prompts: bool = True,
        request_timeout: float = 30.0,
        run_timeout: float = 600.0,
    ) -> None:
        self.base = ollama_url.rstrip("/")
        self.node_name = node_name
        self.clock = clock
        self.now = now
        self.load_nvml = load_nvml
        self.power_interval = power_interval
        self.nonce = nonce
        self.unique_prompts = unique_prompts
        """Test hook: False sends every prompt as it is (to show what the prompt cache does)."""
        self.request_timeout = request_timeout
        self.run_timeout = run_timeout
        self._nvml: ModuleType | None = None
        self._nvml_tried = False
        self._session: aiohttp.ClientSession | None = None
        self._progress: Callable[[str], None] = lambda _: None
        self._keep_alive: str | int = RUN_KEEP_ALIVE

    # Requests ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[aiohttp.ClientSession]:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.request_timeout, sock_read=self.run_timeout
        )
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self._session = session
            try:
                yield session
            finally:
                self._session = None

    async def _json(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        assert self._session is not None
        what = f"{method} {path}"
        try:
            async with self._session.request(method, self.base + path, json=body) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OllamaFailed("OllamaUnreachable", f"{what}: {exc or type(exc).__name__}") from exc
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            data = {"error": text.strip()[:300]}
        if not isinstance(data, dict):
            data = {}
        if status >= 400 or data.get("error"):
            raise OllamaFailed("OllamaError", f"{what}: {data.get('error') or f'HTTP {status}'}")
        return data

    async def _ps(self) -> dict[str, dict[str, Any]]:
        loaded = (await self._json("GET", "/api/ps")).get("models") or []
        return {normalize_model_name(str(m.get("name") or m.get("model"))): m for m in loaded}

    async def _load(self, model: str) -> None:
        body = {"model": model, "prompt": "", "keep_alive": self._keep_alive, "stream": False}
        await self._json("POST", "/api/generate", body)

    async def _unload(self, model: str) -> None:
        body = {"model": model, "prompt": "", "keep_alive": 0, "stream": False}
        await self._json("POST", "/api/generate", body)

    async def _run(
        self, model: str, prompt: str, options: dict[str, Any], sampler: PowerSampler | None
    ) -> Run:
        """One streamed generation; TTFT from the request's start to the first non-empty chunk,
        power sampled from the first token to the final message."""
        assert self._session is not None
        body = {
            "model": model,
            "prompt": prompt,
            "stream": True,
            "raw": False,
            "options": options,
            "keep_alive": self._keep_alive,
        }
        started = self.clock()
        ttft_ms: float | None = None
        final: dict[str, Any] | None = None
        try:
            async with self._session.post(self.base + "/api/generate", json=body) as response:
                if response.status >= 400:
                    text = await response.text()
                    raise OllamaFailed("OllamaError", f"generate: {_error_text(text, response)}")
                buffer = b""
                async for chunk in response.content.iter_any():
                    *lines, buffer = (buffer + chunk).split(b"\n")
                    for line in lines:
                        message = _line(line)
                        if message is None:
                            continue
                        if message.get("error"):
                            raise OllamaFailed("OllamaError", f"generate: {message['error']}")
                        if ttft_ms is None and message.get("response"):
                            ttft_ms = (self.clock() - started) * 1000
                            if sampler is not None:
                                sampler.start()
                        if message.get("done"):
                            final = message
                tail = _line(buffer)
                if tail is not None and tail.get("done"):
                    final = tail
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OllamaFailed(
                "OllamaUnreachable", f"generate: {exc or type(exc).__name__}"
            ) from exc
        finally:
            samples = await sampler.stop() if sampler is not None else []
        if final is None:
            raise OllamaFailed("OllamaError", "generate: the stream ended without a final message")
        if ttft_ms is None:  # nothing generated at all: the final message is the first token
            ttft_ms = (self.clock() - started) * 1000
        eval_ns = final.get("eval_duration")
        energy = joules(samples, eval_ns / 1e9) if samples and isinstance(eval_ns, int) else None
        try:
            return run_from_response(final, ttft_ms, energy)
        except ValueError as exc:
            raise OllamaFailed("OllamaError", str(exc)) from exc

    # NVML ---------------------------------------------------------------------------------------

    def _sampler(self, report: AgentReport) -> PowerSampler | None:
        if self.load_nvml is None or not any(g.vendor == "nvidia" for g in report.hardware.gpus):
            return None
        if not self._nvml_tried:
            self._nvml_tried = True
            try:
                nvml = self.load_nvml()
                nvml.nvmlInit()
                self._nvml = nvml
            except Exception as exc:  # no driver, no library: no energy figure
                log.info("bench: NVML unavailable, no energy figures: %s", exc)
        if self._nvml is None:
            return None
        try:
            return PowerSampler(self._nvml, self.power_interval)
        except Exception as exc:
            log.info("bench: NVML devices unreadable, no energy figures: %s", exc)
            return None

    # The measurement --------------------------------------------------------------------------

    async def measure(
        self,
        bench: OllamaBenchmark,
        model: str,
        report: AgentReport,
        store: ResultStore,
        progress: Callable[[str], None] | None = None,
    ) -> Outcome:
        """Measure `model` for `bench` on this node (or reuse a stored result); never raises
        for Ollama's or the store's failures: they end as Failed with the reason. `progress`
        hears a short line for people at each stage ("run 4/15 (code)")."""
        model = normalize_model_name(model)
        self._progress = progress or (lambda _: None)
        try:
            async with self._client():
                return await self._measure(bench, model, report, store)
        except Stop as stop:
            return stop.outcome
        except OllamaFailed as failed:
            return Outcome("Failed", failed.reason, str(failed))

    async def _measure(
        self, bench: OllamaBenchmark, model: str, report: AgentReport, store: ResultStore
    ) -> Outcome:
        spec = bench.spec
        ref = next((r for r in spec.models if r.name == model), None)
        tags = (await self._json("GET", "/api/tags")).get("models") or []
        entry = next(
            (
                t
                for t in tags
                if normalize_model_name(str(t.get("name") or t.get("model"))) == model
            ),
            None,
        )
        if entry is None:
            raise Stop("Skipped", "NotInstalled", f"{model} is not installed on this node")
        digest = str(entry.get("digest") or "").removeprefix("sha256:")
        if ref is not None and ref.digest and not digest.startswith(ref.digest[: len(digest)]):
            raise Stop(
                "Skipped",
                "NotInstalled",
                f"{model} is installed with digest {digest[:12]}, the benchmark asks for "
                f"{ref.digest[:12]}",
            )
        size = entry.get("size") if isinstance(entry.get("size"), int) else None
        vram = sum(g.memory_total_bytes or 0 for g in report.hardware.gpus)
        ram = report.hardware.memory.total_bytes
        if ram is not None and not fits(size, vram, ram):
            assert size is not None
            raise Stop(
                "Skipped",
                "DoesNotFit",
                f"{model} needs about {gib(size * FIT_MARGIN)} ({gib(size)} file x{FIT_MARGIN}); "
                f"this node has {gib(vram)} VRAM + {gib(ram)} RAM",
            )
        loaded = await self._ps()
        mine_loaded = model in loaded
        self._keep_alive = PINNED if mine_loaded and self._pinned(loaded[model]) else RUN_KEEP_ALIVE
        others = {name: m for name, m in loaded.items() if name != model}
        capacity = vram or ram or 0
        in_use = sum(_resident(m, bool(vram)) for m in others.values())
        need = (size or 0) * FIT_MARGIN
        evict: list[str] = []
        if others and capacity and in_use + need > capacity:
            evict = sorted(others)
        if evict and not spec.evict:
            raise Stop(
                "Skipped",
                "Busy",
                f"{', '.join(evict)} loaded ({gib(in_use)}) would have to make room for {model} "
                f"(about {gib(need)}, {gib(capacity)} {'VRAM' if vram else 'RAM'}); "
                "set evict to allow unloading",
            )
        if spec.cold_load and mine_loaded and not spec.evict:
            raise Stop(
                "Skipped",
                "Busy",
                f"{model} is loaded already (someone may be using it); a cold load would unload "
                "it: set evict to allow that",
            )
        for name in evict:
            log.info("bench %s: unloading %s to make room (evict)", bench.metadata.name, name)
            await self._unload(name)
        try:
            return await self._measure_loaded(bench, model, report, store, digest, entry)
        finally:
            if not mine_loaded:
                with suppress(OllamaFailed):
                    await self._unload(model)

    async def _measure_loaded(
        self,
        bench: OllamaBenchmark,
        model: str,
        report: AgentReport,
        store: ResultStore,
        digest: str,
        entry: dict[str, Any],
    ) -> Outcome:
        spec = bench.spec
        self._progress(f"loading {model}")
        await self._load(model)
        where, size, size_vram = await self._placement(model)
        version = str((await self._json("GET", "/api/version")).get("version") or "unknown")
        prompts = prompts_of(spec)
        hardware = report.hardware
        drivers = sorted({g.driver_version for g in hardware.gpus if g.driver_version})
        facts = Fingerprint(
            model=model,
            model_digest=digest or (report_digest(report, model) or "unknown"),
            ollama_version=version,
            gpus=sorted(g.name for g in hardware.gpus),
            gpu_driver=", ".join(drivers) or None,
            cpu=hardware.cpu.model,
            memory_gib=round(hardware.memory.total_bytes / GIB)
            if hardware.memory.total_bytes
            else None,
            placement=where,
            options=spec.options,
            suite_hash=suite_hash(prompts),
        )
        key = fingerprint(facts)
        if not spec.force:
            try:
                stored = [(n, r) for n, r in await store.find(key) if r.node == self.node_name]
            except Exception as exc:
                raise Stop("Failed", "StoreError", f"cannot look up stored results: {exc}") from exc
            hit = cache_hit(facts, [r for _, r in stored], spec.max_age, self.now())
            if hit is not None:
                source = next(n for n, r in stored if r is hit)
                reused = hit.model_copy(
                    update={
                        "benchmark": bench.metadata.name,
                        "benchmark_uid": bench.metadata.uid,
                        "cached": True,
                        "reused_from": source,
                        "regression": None,
                    }
                )
                name = await self._write(store, reused)
                return Outcome(
                    "Succeeded", None, f"reused {source} (same fingerprint)", name, reused
                )
        # Measure.
        options = spec.options.ollama_options()
        nonce = self.nonce()
        counter = 0

        def prompt_text(text: str) -> str:
            nonlocal counter
            counter += 1
            return unique_prompt(text, nonce, counter) if self.unique_prompts else text

        load_ms: float | None = None
        flags: set[ResultFlag] = set()
        if spec.cold_load:
            await self._unload(model)
        sampler = self._sampler(report)
        runs: list[Run] = []
        expected: list[int | None] = []
        total = len(prompts) * spec.repetitions
        for index, prompt in enumerate(prompts):
            warm: Run | None = None
            for _ in range(spec.warmup):
                self._progress(f"warm-up ({prompt.name})")
                warm = await self._run(model, prompt_text(prompt.text), options, None)
                if spec.cold_load and index == 0 and load_ms is None:
                    load_ms = warm.load_ns / 1e6 if warm.load_ns > 0 else None
                    if load_ms is None:
                        flags.add("cold-load-unmeasured")
                    # The cold load may place the model differently: read it again.
                    where_now, size, size_vram = await self._placement(model)
                    if where_now != where:
                        raise Stop(
                            "Failed",
                            "PlacementChanged",
                            f"{model} loaded as {where} first, {where_now} after the cold load",
                        )
            for _ in range(spec.repetitions):
                self._progress(f"run {len(runs) + 1}/{total} ({prompt.name})")
                runs.append(await self._run(model, prompt_text(prompt.text), options, sampler))
                expected.append(warm.prompt_tokens if warm is not None else None)
        summary = summarize(
            runs,
            num_predict=spec.options.num_predict,
            noisy_cv=spec.noisy_cv,
            expected_prompt_tokens=expected,
        )
        flags.update(summary.flags)
        if where == "split":
            flags.add("split")
        result = OllamaBenchmarkResultSpec(
            benchmark=bench.metadata.name,
            benchmark_uid=bench.metadata.uid,
            node=self.node_name,
            model=model,
            fingerprint=key,
            facts=facts,
            placement=where,
            size_bytes=size,
            size_vram_bytes=size_vram,
            pp=summary.pp,
            tg=summary.tg,
            ttft_ms=summary.ttft_ms,
            load_ms=round(load_ms, 3) if load_ms is not None else None,
            joules_per_token=summary.joules_per_token,
            prompt_tokens=summary.prompt_tokens,
            generated_tokens=summary.generated_tokens,
            early_stops=summary.early_stops,
            flags=sorted(flags),
            measured_at=self.now(),
        )
        name = await self._write(store, result)
        message = (
            f"pp {result.pp.mean:.1f} tok/s, tg {result.tg.mean:.1f} tok/s ({where}"
            + (", " + ", ".join(result.flags) if result.flags else "")
            + ")"
        )
        return Outcome("Succeeded", None, message, name, result)

    def _pinned(self, entry: dict[str, Any]) -> bool:
        expires = parse_time(entry.get("expires_at"))
        return expires is not None and expires - self.now() > PINNED_AFTER

    async def _placement(self, model: str) -> tuple[Placement, int | None, int | None]:
        entry = (await self._ps()).get(model)
        if entry is None:
            raise OllamaFailed("OllamaError", f"{model} is not in /api/ps after loading it")
        size = entry.get("size") if isinstance(entry.get("size"), int) else None
        size_vram = entry.get("size_vram") if isinstance(entry.get("size_vram"), int) else None
        return placement(size, size_vram), size, size_vram

    async def _write(self, store: ResultStore, spec: OllamaBenchmarkResultSpec) -> str:
        try:
            return await store.write(spec)
        except Exception as exc:
            raise Stop("Failed", "StoreError", f"cannot store the result: {exc}") from exc


def report_digest(report: AgentReport, model: str) -> str | None:
    """The 12-digit digest the agent's report has for `model` (when /api/tags had none)."""
    return next((m.digest for m in report.ollama.models if m.name == model), None)


def _resident(entry: dict[str, Any], gpu: bool) -> int:
    """Bytes a loaded model holds in the memory that limits: VRAM on a GPU node, else all."""
    key = "size_vram" if gpu else "size"
    value = entry.get(key)
    return value if isinstance(value, int) else 0


def _line(raw: bytes) -> dict[str, Any] | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        raise OllamaFailed(
            "OllamaError", f"generate answered a line that is not JSON: {raw[:120]!r}"
        ) from None
    return data if isinstance(data, dict) else None


def _error_text(text: str, response: aiohttp.ClientResponse) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300] or response.reason or f"HTTP {response.status}"
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {response.status}"
