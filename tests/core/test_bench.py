"""The measuring rules of obt.core.bench, against responses shaped like Ollama's own."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from obt.core.bench import (
    Run,
    cache_hit,
    comparable_key,
    fingerprint,
    fits,
    joules,
    placement,
    prompts_of,
    regression,
    run_from_response,
    stats,
    suite_hash,
    summarize,
    unique_prompt,
)
from obt.core.bench_suite import DEFAULT_SUITE
from obt.core.models.benchmark import (
    BenchmarkOptions,
    Fingerprint,
    OllamaBenchmarkResultSpec,
    OllamaBenchmarkSpec,
    parse_age,
)

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
GIB = 1024**3


def response(
    pp_rate: float,
    tg_rate: float,
    *,
    prompt: int = 400,
    predict: int = 128,
    cached: int | None = None,
    reason: str = "length",
) -> dict[str, Any]:
    """The `done: true` message of /api/generate for given rates (tokens/s)."""
    evaluated = prompt - (cached or 0)
    body: dict[str, Any] = {
        "model": "llama3.2:latest",
        "done": True,
        "done_reason": reason,
        "total_duration": 5_000_000_000,
        "load_duration": 12_000_000,
        "prompt_eval_count": evaluated,
        "prompt_eval_duration": round(evaluated / pp_rate * 1e9),
        "eval_count": predict,
        "eval_duration": round(predict / tg_rate * 1e9),
    }
    if cached is not None:
        body["prompt_eval_cached_count"] = cached
    return body


def noisy_runs(pp: float, tg: float, n: int = 8, noise: float = 0.02) -> list[Run]:
    rng = random.Random(7)
    return [
        run_from_response(
            response(
                pp * rng.uniform(1 - noise, 1 + noise), tg * rng.uniform(1 - noise, 1 + noise)
            ),
            ttft_ms=80.0 * rng.uniform(0.95, 1.05),
        )
        for _ in range(n)
    ]


def test_rates_come_from_ollamas_counters_and_equal_the_true_rates_within_the_noise() -> None:
    summary = summarize(noisy_runs(2000.0, 45.0), num_predict=128, noisy_cv=0.10)
    assert summary.pp.mean == pytest.approx(2000.0, rel=0.02)
    assert summary.tg.mean == pytest.approx(45.0, rel=0.02)
    assert summary.pp.n == summary.tg.n == 8
    assert summary.pp.min <= summary.pp.mean <= summary.pp.max
    assert 0 < summary.tg.cv < 0.03
    assert summary.flags == []
    assert summary.generated_tokens == 128


def test_missing_counters_are_an_error_not_a_wall_clock_guess() -> None:
    with pytest.raises(ValueError, match="no eval_duration"):
        run_from_response(
            {"done": True, "prompt_eval_count": 1, "prompt_eval_duration": 1, "eval_count": 3},
            ttft_ms=1.0,
        )


def test_a_prompt_served_from_the_cache_does_not_inflate_pp() -> None:
    honest = [run_from_response(response(1000.0, 40.0), ttft_ms=50) for _ in range(5)]
    # Ollama reused 390 of 400 prompt tokens: 10 tokens in a tiny time looks like 1000 tok/s or
    # more, but is not prompt processing. Flagged by the cached counter, or, where Ollama has
    # no such counter, by a prompt_eval_count far below the prompt's length.
    with_counter = run_from_response(response(1000.0, 40.0, cached=390), ttft_ms=5)
    no_counter = Run(
        prompt_tokens=10,
        prompt_ns=1_000_000,
        eval_tokens=128,
        eval_ns=3_200_000_000,
        load_ns=0,
        ttft_ms=5,
        done_reason="length",
    )
    summary = summarize(
        [*honest, with_counter, no_counter],
        num_predict=128,
        noisy_cv=0.1,
        expected_prompt_tokens=[400] * 7,
    )
    assert summary.pp.n == 5
    assert summary.pp.mean == pytest.approx(1000.0, rel=0.001)
    assert "prompt-cached" in summary.flags


def test_an_early_stop_is_counted_flagged_and_left_out_of_tg() -> None:
    runs = [run_from_response(response(1000.0, 40.0), ttft_ms=50) for _ in range(5)]
    runs.append(run_from_response(response(1000.0, 90.0, predict=20, reason="stop"), ttft_ms=50))
    summary = summarize(runs, num_predict=128, noisy_cv=0.1)
    assert summary.early_stops == 1
    assert "early-stop" in summary.flags
    assert summary.tg.mean == pytest.approx(40.0, rel=0.001)
    assert summary.tg.n == 5


def test_a_high_coefficient_of_variation_marks_the_result_noisy() -> None:
    summary = summarize(noisy_runs(2000.0, 45.0, noise=0.4), num_predict=128, noisy_cv=0.10)
    assert "noisy" in summary.flags


def test_stats_use_the_sample_standard_deviation() -> None:
    s = stats([10.0, 12.0, 14.0])
    assert (s.mean, s.stddev, s.min, s.max, s.n) == (12.0, 2.0, 10.0, 14.0, 3)
    assert s.cv == pytest.approx(2 / 12, abs=1e-4)
    with pytest.raises(ValueError):
        stats([])


def test_placement_fit_and_energy() -> None:
    assert placement(8 * GIB, 8 * GIB) == "gpu"
    assert placement(8 * GIB, 5 * GIB) == "split"
    assert placement(8 * GIB, 0) == "cpu"
    assert fits(40 * GIB, 24 * GIB, 32 * GIB)
    assert not fits(70 * GIB, 24 * GIB, 32 * GIB)
    assert fits(None, 0, 0)
    assert joules([300.0, 310.0, 290.0], 2.0) == pytest.approx(600.0)
    assert joules([], 2.0) is None
    energy_run = Run(400, 10**8, 128, 2 * 10**9, 0, 50.0, "length", joules=600.0)
    summary = summarize([energy_run] * 5, num_predict=128, noisy_cv=0.1)
    assert summary.joules_per_token is not None
    assert summary.joules_per_token.mean == pytest.approx(600 / 128, rel=1e-3)


def test_every_repetition_gets_a_prompt_ollama_has_not_seen() -> None:
    prompts = {unique_prompt("hello", "n1", i) for i in range(5)}
    assert len(prompts) == 5 and all(p.endswith("hello") for p in prompts)


def test_the_suite_is_fixed_and_its_hash_is_part_of_the_fingerprint() -> None:
    assert [p.name for p in DEFAULT_SUITE] == ["chat", "summarise", "code"]
    # ~1k tokens to summarise (about 0.75 words per token in English).
    assert 600 <= len(DEFAULT_SUITE[1].text.split()) <= 900
    spec = OllamaBenchmarkSpec.model_validate(
        {"models": [{"name": "x"}], "nodes": ["a"], "prompts": [{"name": "mine", "text": "hi"}]}
    )
    assert [p.name for p in prompts_of(spec)] == ["chat", "summarise", "code", "mine"]
    assert suite_hash(prompts_of(spec)) != suite_hash(DEFAULT_SUITE)


def facts(**changes: Any) -> Fingerprint:
    base: dict[str, Any] = {
        "model": "llama3.2:latest",
        "model_digest": "a" * 64,
        "ollama_version": "0.6.0",
        "gpus": ["NVIDIA GeForce RTX 4090"],
        "gpu_driver": "560.35.03",
        "cpu": "AMD Ryzen 9 7950X",
        "memory_gib": 64,
        "placement": "gpu",
        "options": BenchmarkOptions(),
        "suite_hash": suite_hash(DEFAULT_SUITE),
    }
    return Fingerprint.model_validate(base | changes)


def result(
    f: Fingerprint, at: datetime, tg: float = 45.0, sd: float = 0.5, node: str = "a", **extra: Any
) -> OllamaBenchmarkResultSpec:
    s = stats([tg - sd, tg, tg + sd])
    return OllamaBenchmarkResultSpec.model_validate(
        {
            "benchmark": "b1",
            "node": node,
            "model": f.model,
            "fingerprint": fingerprint(f),
            "facts": f,
            "placement": f.placement,
            "pp": s,
            "tg": s,
            "ttftMs": s,
            "promptTokens": 400,
            "generatedTokens": 128,
            "measuredAt": at,
        }
        | extra
    )


def test_fingerprint_changes_with_digest_version_hardware_placement_and_options() -> None:
    base = fingerprint(facts())
    assert fingerprint(facts()) == base
    assert fingerprint(facts(model_digest="a" * 12)) == base  # the stored prefix is enough
    for change in (
        {"model_digest": "b" * 64},
        {"ollama_version": "0.6.1"},
        {"gpus": ["NVIDIA GeForce RTX 3090"]},
        {"placement": "split"},
        {"options": BenchmarkOptions(num_ctx=8192)},
        {"method_version": 2},
    ):
        assert fingerprint(facts(**change)) != base, change
    # Machines compare on everything but their own facts.
    assert comparable_key(facts(gpus=["AMD Radeon RX 7900 XTX"], cpu="x")) == comparable_key(
        facts()
    )
    assert comparable_key(facts(ollama_version="0.5.0")) != comparable_key(facts())


def test_cache_hits_only_a_measured_result_with_the_same_fingerprint_within_max_age() -> None:
    f = facts()
    old = result(f, T0 - timedelta(days=8))
    fresh = result(f, T0 - timedelta(days=1))
    reused = result(f, T0 - timedelta(hours=1), cached=True)
    other = result(facts(ollama_version="0.6.1"), T0 - timedelta(hours=2))
    assert cache_hit(f, [old, fresh, reused, other], "7d", T0) is fresh
    assert cache_hit(f, [old], "7d", T0) is None
    assert cache_hit(facts(model_digest="c" * 64), [fresh], "7d", T0) is None
    assert cache_hit(f, [fresh], "12h", T0) is None


def test_a_slowdown_after_an_ollama_upgrade_is_named() -> None:
    before = result(facts(ollama_version="0.5.7"), T0 - timedelta(days=3), tg=45.0)
    after = result(facts(ollama_version="0.6.0"), T0, tg=38.0)
    found = regression(after, [("r-old", before)])
    assert found is not None
    assert found.changed == "Ollama 0.5.7 -> 0.6.0" and found.previous_result == "r-old"
    assert found.sigmas >= 3
    same_speed = result(facts(ollama_version="0.6.0"), T0, tg=44.8)
    assert regression(same_speed, [("r-old", before)]) is None
    other_hw = result(facts(ollama_version="0.6.0", gpus=["x"]), T0, tg=10.0)
    assert regression(other_hw, [("r-old", before)]) is None


def test_spec_validation_names_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        OllamaBenchmarkSpec.model_validate({"models": [{"name": "x"}]})
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        OllamaBenchmarkSpec.model_validate(
            {"models": [{"name": "x"}], "nodes": ["a"], "repetitions": 3}
        )
    with pytest.raises(ValidationError, match="not an age"):
        OllamaBenchmarkSpec.model_validate(
            {"models": [{"name": "x"}], "nodes": ["a"], "maxAge": "a week"}
        )
    assert parse_age("1d12h") == timedelta(hours=36)
    options = BenchmarkOptions(
        extra={"num_gpu": "99", "flash_attention": "true", "mirostat_tau": "5.0"}
    )
    assert options.ollama_options() == {
        "num_predict": 128,
        "num_ctx": 4096,
        "temperature": 0.0,
        "seed": 42,
        "flash_attention": True,
        "mirostat_tau": 5.0,
        "num_gpu": 99,
    }
