"""Write one benchmark run's figures as JSON under bench/results/ (docs/performance.md cites them).

Every bench script calls `write_result` once at the end of a run; bench/dashboard.mjs writes the
same shape itself. One file per bench per run, named `<UTC date-time>-<short commit>-<bench>.json`:

    {"bench": "kube_api_server", "date": "2026-12-03T17:20:05Z",
     "commit": "<40 hex>", "shortCommit": "9ba7c93", "dirty": false,
     "loadAverage": [1.02, 0.98, 0.91], "cpuCount": 2,
     "settings": {"objects": 5000, ...}, "figures": {"fillCreatesPerSecond": 1571.2, ...}}

`dirty` is true when tracked files differ from the commit (the figures then belong to a tree that
no commit holds); the load average is read when the run ends. OBT_BENCH_RESULTS=DIR writes
elsewhere (the tests of this helper use a temporary folder).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def run_record(bench: str, settings: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    """The JSON object for one run: where it ran (commit, dirty, load, CPUs) and what it measured."""
    commit = _git("rev-parse", "HEAD") or "unknown"
    return {
        "bench": bench,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "shortCommit": commit[:7],
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
        "cpuCount": os.cpu_count(),
        "settings": settings,
        "figures": figures,
    }


def write_result(bench: str, settings: dict[str, Any], figures: dict[str, Any]) -> Path:
    """Write the run's JSON file and print where it went; returns its path."""
    record = run_record(bench, settings, figures)
    folder = Path(os.environ.get("OBT_BENCH_RESULTS", RESULTS))
    folder.mkdir(parents=True, exist_ok=True)
    stamp = record["date"].replace("-", "").replace(":", "")
    path = folder / f"{stamp}-{record['shortCommit']}-{bench}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n")
    print(f"figures written to {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path
