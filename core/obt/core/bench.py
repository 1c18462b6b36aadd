"""How OBT measures a model on a node: pure functions over Ollama's own counters.

docs/benchmarks.md states each rule and why; this module is where each rule lives:
- rates come from Ollama's counters (`prompt_eval_count / prompt_eval_duration`,
  `eval_count / eval_duration`, nanoseconds), never from wall-clock text length (`Run`);
- every repetition's prompt is new to Ollama (`unique_prompt`), and a run whose prompt was served
  from the cache anyway is not counted as prompt processing (`run_flags`);
- a generation figure needs `done_reason == "length"` (an early stop is counted and flagged);
- repetitions are summarised as mean, sample standard deviation, min, max, n and coefficient of
  variation (`stats`), and a high CV marks the result noisy;
- placement (all on GPUs, split, CPU) is read from `/api/ps` and is part of the fingerprint;
- results are reused when their fingerprint matches (`fingerprint`, `cache_hit`) and compared
  only with comparable ones (`comparable_key`); a clear slowdown after an Ollama or driver
  upgrade is named (`regression`).
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from obt.core.bench_suite import DEFAULT_SUITE
from obt.core.models.benchmark import (
    BenchmarkPrompt,
    Fingerprint,
    OllamaBenchmarkResultSpec,
    OllamaBenchmarkSpec,
    Placement,
    Regression,
    ResultFlag,
    Stats,
    parse_age,
)

NS_PER_S = 1_000_000_000
# A prompt evaluated with fewer than this share of its tokens was (partly) served from Ollama's
# prompt cache: its pp figure would be inflated.
MIN_PROMPT_SHARE = 0.9
# Room a model needs beyond its file size (KV cache, compute buffers) to be worth trying.
FIT_MARGIN = 1.2
# A new result this many standard deviations slower than the previous comparable one is flagged.
REGRESSION_SIGMAS = 3.0
# Fingerprint facts that belong to the node: left out when comparing machines.
NODE_FACTS = ("gpus", "gpu_driver", "cpu", "memory_gib", "placement")


@dataclass(frozen=True)
class Run:
    """One measured repetition, from Ollama's final streamed message and the first token's time."""

    prompt_tokens: int
    prompt_ns: int
    eval_tokens: int
    eval_ns: int
    load_ns: int
    ttft_ms: float
    done_reason: str | None
    cached_tokens: int | None = None
    """`prompt_eval_cached_count` where Ollama reports it."""
    joules: float | None = None
    """GPU energy during generation (NVML), when sampled."""

    @property
    def pp_tps(self) -> float:
        return self.prompt_tokens * NS_PER_S / self.prompt_ns if self.prompt_ns > 0 else 0.0

    @property
    def tg_tps(self) -> float:
        return self.eval_tokens * NS_PER_S / self.eval_ns if self.eval_ns > 0 else 0.0


def run_from_response(final: Mapping[str, Any], ttft_ms: float, joules: float | None = None) -> Run:
    """A `Run` from the `done: true` message of `/api/generate` (or `/api/chat`).

    ValueError naming the field when Ollama's counters are missing (an old or odd server):
    OBT never falls back to wall-clock text length.
    """

    def count(field: str, required: bool = True) -> int:
        value = final.get(field)
        if value is None:
            if required:
                raise ValueError(f"Ollama's answer has no {field}: cannot measure without it")
            return 0
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"Ollama's {field} is {value!r}, not a count")
        return value

    cached = final.get("prompt_eval_cached_count")
    return Run(
        prompt_tokens=count("prompt_eval_count"),
        prompt_ns=count("prompt_eval_duration"),
        eval_tokens=count("eval_count"),
        eval_ns=count("eval_duration"),
        load_ns=count("load_duration", required=False),
        ttft_ms=ttft_ms,
        done_reason=final.get("done_reason"),
        cached_tokens=cached if isinstance(cached, int) else None,
        joules=joules,
    )


def unique_prompt(text: str, nonce: str, index: int) -> str:
    """The prompt with a prefix Ollama has never seen, so its prompt cache cannot serve it."""
    return f"[benchmark {nonce}-{index}]\n{text}"


def run_flags(run: Run, expected_prompt_tokens: int | None, num_predict: int) -> set[ResultFlag]:
    """What makes one run unfit for a figure: a cached prompt (pp), an early stop (tg)."""
    flags: set[ResultFlag] = set()
    if run.cached_tokens or (
        expected_prompt_tokens and run.prompt_tokens < MIN_PROMPT_SHARE * expected_prompt_tokens
    ):
        flags.add("prompt-cached")
    if run.done_reason != "length" or run.eval_tokens < num_predict:
        flags.add("early-stop")
    return flags


def stats(values: Sequence[float]) -> Stats:
    """Mean, sample standard deviation (n-1), min, max, n and CV of repeated measurements."""
    if not values:
        raise ValueError("no measurements to summarise")
    mean = statistics.fmean(values)
    stddev = statistics.stdev(values) if len(values) > 1 else 0.0
    return Stats(
        mean=round(mean, 3),
        stddev=round(stddev, 3),
        min=round(min(values), 3),
        max=round(max(values), 3),
        n=len(values),
        cv=round(stddev / mean, 4) if mean > 0 else 0.0,
    )


@dataclass(frozen=True)
class Summary:
    pp: Stats
    tg: Stats
    ttft_ms: Stats
    joules_per_token: Stats | None
    prompt_tokens: int
    generated_tokens: int
    early_stops: int
    flags: list[ResultFlag]


def summarize(
    runs: Sequence[Run],
    *,
    num_predict: int,
    noisy_cv: float,
    expected_prompt_tokens: Sequence[int | None] | None = None,
) -> Summary:
    """Figures over the measured repetitions (warm-ups already left out).

    pp counts only runs whose prompt was evaluated in full; tg only runs that generated the
    requested length. When every run fails a rule the figure is kept from all runs and the
    result is flagged, so a person sees why it cannot be trusted.
    """
    if not runs:
        raise ValueError("no measured runs")
    expected = list(expected_prompt_tokens or [None] * len(runs))
    per_run = [run_flags(r, e, num_predict) for r, e in zip(runs, expected, strict=True)]
    flags: set[ResultFlag] = set()
    full_prompt = [r for r, f in zip(runs, per_run, strict=True) if "prompt-cached" not in f]
    if len(full_prompt) < len(runs):
        flags.add("prompt-cached")
    to_length = [r for r, f in zip(runs, per_run, strict=True) if "early-stop" not in f]
    early = len(runs) - len(to_length)
    if early:
        flags.add("early-stop")
    pp = stats([r.pp_tps for r in (full_prompt or runs)])
    tg = stats([r.tg_tps for r in (to_length or runs)])
    ttft = stats([r.ttft_ms for r in runs])
    energy = [r.joules / r.eval_tokens for r in runs if r.joules is not None and r.eval_tokens > 0]
    if max(pp.cv, tg.cv) > noisy_cv:
        flags.add("noisy")
    return Summary(
        pp=pp,
        tg=tg,
        ttft_ms=ttft,
        joules_per_token=stats(energy) if energy else None,
        prompt_tokens=round(statistics.fmean(r.prompt_tokens for r in runs)),
        generated_tokens=round(statistics.fmean(r.eval_tokens for r in runs)),
        early_stops=early,
        flags=sorted(flags),
    )


def joules(power_watts: Sequence[float], seconds: float) -> float | None:
    """Energy from evenly spaced power samples over `seconds` (None without samples)."""
    if not power_watts or seconds <= 0:
        return None
    return statistics.fmean(power_watts) * seconds


def placement(size: int | None, size_vram: int | None) -> Placement:
    """From `/api/ps`: every byte in GPU memory -> gpu; none -> cpu; else split."""
    if not size_vram:
        return "cpu"
    if size is None or size_vram >= size:
        return "gpu"
    return "split"


def fits(model_bytes: int | None, vram_bytes: int, ram_bytes: int) -> bool:
    """Whether a model of this file size can run at all on the node (VRAM + RAM with room
    for its KV cache); unknown sizes are given the benefit of the doubt."""
    if model_bytes is None:
        return True
    return model_bytes * FIT_MARGIN <= vram_bytes + ram_bytes


def prompts_of(spec: OllamaBenchmarkSpec) -> list[BenchmarkPrompt]:
    """The prompts a benchmark runs: the built-in suite's (unless 'none'), then custom ones."""
    prompts = list(DEFAULT_SUITE) if spec.suite == "default" else []
    return prompts + list(spec.prompts or [])


def suite_hash(prompts: Sequence[BenchmarkPrompt]) -> str:
    """sha256 of the prompts' names and texts: a changed prompt is a different benchmark."""
    canonical = json.dumps([[p.name, p.text] for p in prompts], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hash(data: Mapping[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def fingerprint(facts: Fingerprint) -> str:
    """sha256 of every fact a measurement depends on (the cache key)."""
    data = facts.model_dump(mode="json")
    data["model_digest"] = data["model_digest"][:12]
    return _hash(data)


def comparable_key(facts: Fingerprint) -> str:
    """The fingerprint without the node's own facts: results with equal keys compare machines
    fairly (same model digest, Ollama version, options, prompts and method)."""
    data = facts.model_dump(mode="json", exclude=set(NODE_FACTS))
    data["model_digest"] = data["model_digest"][:12]
    return _hash(data)


def cache_hit(
    facts: Fingerprint,
    stored: Sequence[OllamaBenchmarkResultSpec],
    max_age: str,
    now: datetime,
) -> OllamaBenchmarkResultSpec | None:
    """The newest stored result, measured (not itself reused), with the same fingerprint and
    younger than max_age; None when there is none."""
    wanted = fingerprint(facts)
    limit = parse_age(max_age)
    fresh = [
        r
        for r in stored
        if r.fingerprint == wanted and not r.cached and now - r.measured_at < limit
    ]
    return max(fresh, key=lambda r: r.measured_at, default=None)


def regression(
    new: OllamaBenchmarkResultSpec,
    history: Sequence[tuple[str, OllamaBenchmarkResultSpec]],
    sigmas: float = REGRESSION_SIGMAS,
) -> Regression | None:
    """Whether `new` is clearly slower than the latest earlier result of the same node, model
    and fingerprint except the Ollama version or GPU driver (named in `changed`)."""
    mine = new.facts.model_dump(mode="json", exclude={"ollama_version", "gpu_driver"})
    candidates = [
        (name, old)
        for name, old in history
        if old.node == new.node
        and old.measured_at < new.measured_at
        and not old.cached
        and old.facts.model_dump(mode="json", exclude={"ollama_version", "gpu_driver"}) == mine
        and (
            old.facts.ollama_version != new.facts.ollama_version
            or old.facts.gpu_driver != new.facts.gpu_driver
        )
    ]
    if not candidates:
        return None
    name, old = max(candidates, key=lambda item: item[1].measured_at)
    spread = max(old.tg.stddev, new.tg.stddev, 1e-9)
    drop = (old.tg.mean - new.tg.mean) / spread
    if drop < sigmas or math.isclose(old.tg.mean, new.tg.mean):
        return None
    changes = []
    if old.facts.ollama_version != new.facts.ollama_version:
        changes.append(f"Ollama {old.facts.ollama_version} -> {new.facts.ollama_version}")
    if old.facts.gpu_driver != new.facts.gpu_driver:
        changes.append(f"driver {old.facts.gpu_driver} -> {new.facts.gpu_driver}")
    return Regression(
        previous_result=name,
        previous_tg=old.tg.mean,
        sigmas=round(drop, 1),
        changed=", ".join(changes),
    )
