"""bench/record.py: every bench run leaves one JSON file with where it ran and what it measured."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _record_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_record", REPO / "bench" / "record.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_run_writes_one_named_file_with_commit_load_and_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBT_BENCH_RESULTS", str(tmp_path))
    path = _record_module().write_result("demo", {"objects": 10}, {"listMs": 1.5})

    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert path.parent == tmp_path
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z-{head[:7]}-demo\.json", path.name), path.name
    record = json.loads(path.read_text())
    assert record["bench"] == "demo"
    assert record["commit"] == head and record["shortCommit"] == head[:7]
    assert isinstance(record["dirty"], bool)
    assert len(record["loadAverage"]) == 3
    assert record["cpuCount"] == os.cpu_count()
    assert record["settings"] == {"objects": 10}
    assert record["figures"] == {"listMs": 1.5}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["date"])


def test_committed_results_have_the_same_shape() -> None:
    files = sorted((REPO / "bench" / "results").glob("*.json"))
    assert files, "bench/results/ holds no run"
    for file in files:
        record = json.loads(file.read_text())
        assert set(record) == {
            "bench",
            "date",
            "commit",
            "shortCommit",
            "dirty",
            "loadAverage",
            "cpuCount",
            "settings",
            "figures",
        }, file.name
        assert file.name.endswith(f"-{record['shortCommit']}-{record['bench']}.json"), file.name
