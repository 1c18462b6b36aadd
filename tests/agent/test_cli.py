"""`obt agent detect --json` on this machine prints a valid report; `--once` exits with a status."""

from __future__ import annotations

import json

from click.testing import CliRunner

from obt.cli.main import main
from obt.core.report import AgentReport


def test_detect_json_on_this_machine_is_a_valid_report() -> None:
    result = CliRunner().invoke(
        main, ["agent", "detect", "--json", "--ollama-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 0, result.output
    report = AgentReport.model_validate(json.loads(result.stdout))
    assert report.hardware.cpu.logical_cores and report.hardware.cpu.logical_cores >= 1
    assert report.hardware.memory.total_bytes and report.hardware.memory.total_bytes > 0
    assert report.hardware.os.system == "Linux"
    assert report.ollama.reachable is False and "127.0.0.1:9" in (report.ollama.error or "")


def test_detect_table_and_metrics() -> None:
    table = CliRunner().invoke(main, ["agent", "detect", "--ollama-url", "http://127.0.0.1:9"])
    assert table.exit_code == 0 and table.stdout.splitlines()[0].startswith("OS ")
    metrics = CliRunner().invoke(
        main, ["agent", "detect", "--metrics", "--ollama-url", "http://127.0.0.1:9"]
    )
    assert "# TYPE obt_memory_total_bytes gauge" in metrics.stdout
    assert "obt_ollama_up 0" in metrics.stdout


def test_once_against_an_absent_server_exits_1(tmp_path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "agent",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "--once",
            "--data-dir",
            str(tmp_path),
            "--ollama-url",
            "http://127.0.0.1:9",
        ],
    )
    assert result.exit_code == 1


def test_no_destination_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = CliRunner().invoke(main, ["agent", "--once"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].endswith(
        "nothing to report to: give --server URL (standalone host) or run in Kubernetes"
        " (--kubernetes)"
    )
