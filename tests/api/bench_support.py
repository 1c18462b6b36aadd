"""Benchmark results as agents send them, for the API's benchmark tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from obt.core.bench import fingerprint, stats
from obt.core.models.benchmark import OllamaBenchmarkResultSpec
from tests.core.test_bench import facts

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def result(
    node: str,
    at: datetime,
    *,
    tg: float = 45.0,
    pp: float = 900.0,
    sd: float = 0.5,
    benchmark: str = "b1",
    **fact_changes: Any,
) -> OllamaBenchmarkResultSpec:
    f = facts(**fact_changes)
    flags = ["split"] if f.placement == "split" else []
    return OllamaBenchmarkResultSpec.model_validate(
        {
            "benchmark": benchmark,
            "node": node,
            "model": f.model,
            "fingerprint": fingerprint(f),
            "facts": f,
            "placement": f.placement,
            "pp": stats([pp - 10 * sd, pp, pp + 10 * sd]),
            "tg": stats([tg - sd, tg, tg + sd, tg]),
            "ttftMs": stats([80.0, 82.0, 84.0]),
            "promptTokens": 400,
            "generatedTokens": 128,
            "flags": flags,
            "measuredAt": at,
        }
    )


def wire(spec: OllamaBenchmarkResultSpec) -> dict[str, Any]:
    return {"spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True)}
