"""`obt models pull|rm|load|unload`, `obt task` and `obt modelset` as a person runs them: the
real `obt` command in a subprocess against a live `obt serve` (local mode: tasks and sets in its
database, its reconciler computing their status), with two standalone hosts `a` and `b` that
enrolled and reported through the real agent API and that act as their agents would: they send
their activity with `PUT /api/v1/agents/{name}/activity` and their node tokens (issue 15, must
show 4)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from obt.api.fake import fake_report
from obt.cli.client import EXIT_NOT_FOUND, EXIT_USAGE
from obt.cli.follow import EXIT_INTERRUPTED, EXIT_TASK_FAILED, EXIT_WAIT_TIMEOUT
from tests.api.live_serve import Live, live_serve

GIB = 1024**3
LLAMA = "llama3.2:latest"
MISSING = "pull model manifest: file does not exist"
WAIT = 90.0  # generous: a busy 2-core machine runs several suites at once


@dataclass
class Fleet:
    live: Live
    tokens: dict[str, str]  # node name -> its node token

    def report_activity(self, node: str, entries: list[dict[str, Any]]) -> None:
        r = httpx.put(
            f"{self.live.base}/api/v1/agents/{node}/activity",
            json={"activity": entries},
            headers={"Authorization": f"Bearer {self.tokens[node]}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text

    def task(self, name: str) -> dict[str, Any]:
        with self.live.admin() as http:
            r = http.get(f"/api/v1/tasks/{name}")
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    def task_names(self) -> set[str]:
        with self.live.admin() as http:
            return {t["metadata"]["name"] for t in http.get("/api/v1/tasks").json()["items"]}

    def new_task(self, before: set[str]) -> dict[str, Any]:
        """The task a command just created (not in `before`)."""
        name = until(lambda: next(iter(self.task_names() - before), None), "a new task")
        return self.task(name)


def until(probe: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(0.2)


def step(task: dict[str, Any], phase: str, **extra: Any) -> dict[str, Any]:
    """One activity entry for this task's pull of llama3.2, as an agent writes it."""
    meta = task["metadata"]
    return {
        "sourceKind": "OllamaTask",
        "source": meta["name"],
        "sourceUid": meta.get("uid"),
        "generation": meta.get("generation"),
        "action": task["spec"]["action"],
        "model": LLAMA,
        "phase": phase,
        "attempts": 1,
        "startedAt": "2026-12-03T20:00:00Z",
        **extra,
    }


@dataclass
class Running:
    """An `obt` command in the background, its output collected line by line as it comes."""

    proc: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.out)

    def finish(self) -> int:
        try:
            code = self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        time.sleep(0.2)  # the readers take the last lines
        return code

    def text(self) -> str:
        return "\n".join(self.out) + "\n--- stderr ---\n" + "\n".join(self.err)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    # The hosts report once and never heartbeat (a real agent does every 10 s): they stay Ready.
    patient = {
        "OBT_API__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": "3600",
        "OBT_API__LIVENESS__REMOVE_AFTER_SECONDS": "7200",
    }
    with (
        live_serve(tmp_path_factory.mktemp("serve"), env=patient) as live,
        live.admin() as http,
    ):
        tokens = {}
        for number, (name, labels) in enumerate(
            (("a", {"room": "lab", "gpu": "h100"}), ("b", {"room": "lab"}))
        ):
            secret = http.post("/api/v1/enrollment-tokens", json={}).json()["token"]
            enrolled = httpx.post(
                live.base + "/api/v1/agents/enroll",
                json={"enrollmentToken": secret, "hostId": name, "labels": labels},
                timeout=30,
            )
            assert enrolled.status_code == 201, enrolled.text
            tokens[name] = enrolled.json()["token"]
            r = httpx.put(
                f"{live.base}/api/v1/agents/{name}/report",
                content=fake_report(number, models=1).model_dump_json(by_alias=True),
                headers={
                    "Authorization": f"Bearer {tokens[name]}",
                    "Content-Type": "application/json",
                },
                timeout=30,
            )
            assert r.status_code == 200, r.text
        yield Fleet(live=live, tokens=tokens)


def test_pull_wait_shows_progress_and_exits_0_when_every_node_succeeds(fleet: Fleet) -> None:
    before = fleet.task_names()
    run = Running(fleet.live.start("models", "pull", "llama3.2", "--nodes", "a,b", "--wait"))
    task = fleet.new_task(before)
    assert task["spec"]["nodes"] == ["a", "b"]
    assert task["spec"]["models"] == [{"name": LLAMA}]
    fleet.report_activity("a", [step(task, "Running", completedBytes=GIB, totalBytes=2 * GIB)])
    fleet.report_activity("b", [step(task, "Running", completedBytes=0, totalBytes=2 * GIB)])
    # Progress as plain lines (the output is a pipe): a at half its bytes.
    until(lambda: run.saw(f"node a: Running {LLAMA} 1.0GiB/2.0GiB (50%)"), "a's progress line")
    done = {"completedBytes": 2 * GIB, "totalBytes": 2 * GIB, "finishedAt": "2026-12-03T20:01:00Z"}
    fleet.report_activity("a", [step(task, "Succeeded", **done)])
    fleet.report_activity("b", [step(task, "Succeeded", **done)])
    assert run.finish() == 0, run.text()
    assert run.saw("node b: Succeeded 2.0GiB/2.0GiB (100%)"), run.text()
    finished = f"task {task['metadata']['name']} Succeeded: 2 succeeded, 0 failed"
    assert [line for line in run.out if line.startswith(finished)] == [run.out[-1]], run.text()


def test_pull_wait_exits_non_zero_naming_the_failed_node_and_reason(fleet: Fleet) -> None:
    before = fleet.task_names()
    run = Running(fleet.live.start("models", "pull", "llama3.2", "--nodes", "a,b", "--wait"))
    task = fleet.new_task(before)
    end = {"finishedAt": "2026-12-03T20:01:00Z"}
    fleet.report_activity("a", [step(task, "Succeeded", **end)])
    fleet.report_activity("b", [step(task, "Failed", reason="OllamaError", message=MISSING, **end)])
    assert run.finish() == EXIT_TASK_FAILED == 5, run.text()
    assert f"node b: OllamaError: {MISSING} ({LLAMA})" in run.err, run.text()
    assert not any("node a:" in line for line in run.err), run.text()
    assert run.saw("Failed: 1 succeeded, 1 failed"), run.text()
    # The task keeps the outcome: `obt task get` shows it node by node, failures first.
    name = task["metadata"]["name"]
    described = fleet.live.ok("task", "get", name)
    assert "Phase:" in described and "Failed" in described
    rows = [line.split() for line in described.splitlines() if line.startswith("  ")]
    assert rows[0] == ["NODE", "PHASE", "MODEL", "PROGRESS", "REASON", "MESSAGE"]
    assert rows[1][:5] == ["b", "Failed", LLAMA, "<none>", "OllamaError"]
    assert MISSING in " ".join(rows[1])
    assert rows[2][:2] == ["a", "Succeeded"]
    failed = json.loads(fleet.live.ok("task", "list", "--phase", "Failed", "-o", "json"))
    assert name in {t["metadata"]["name"] for t in failed}
    assert all(t["status"]["phase"] == "Failed" for t in failed)


def test_without_wait_the_task_is_named_and_task_commands_follow_it(fleet: Fleet) -> None:
    created = fleet.live.ok(
        "models", "load", "llama3.2", "-l", "gpu=h100", "--keep-alive", "5m"
    ).splitlines()
    assert created[0].startswith("task load-llama3") and created[0].endswith(" created")
    name = created[0].split()[1]
    assert f"obt task get {name}" in created[1] and f"obt task cancel {name}" in created[2]
    task = fleet.task(name)
    assert task["spec"]["nodeSelector"] == {"matchLabels": {"gpu": "h100"}}
    assert task["spec"]["keepAlive"] == "5m"
    # The table: the CRD's printer columns, as `kubectl get otask` prints them.
    table = fleet.live.ok("task", "list").splitlines()
    assert table[0].split() == [
        "NAME", "ACTION", "MODELS", "NODES", "DONE", "FAILED", "PHASE", "AGE"
    ]  # fmt: skip
    assert any(line.split()[:3] == [name, "load", LLAMA] for line in table[1:]), table
    described = fleet.live.ok("task", "get", name)
    assert "selector gpu=h100" in described and "Keep alive:" in described
    as_yaml = yaml.safe_load(fleet.live.ok("task", "get", name, "-o", "yaml"))
    assert as_yaml["metadata"]["name"] == name and as_yaml["spec"]["action"] == "load"
    # Cancel: the task stays, Cancelled.
    assert fleet.live.ok("task", "cancel", name).startswith(f"task {name} cancelled")
    until(lambda: fleet.task(name)["status"].get("phase") == "Cancelled", "phase Cancelled")
    assert json.loads(fleet.live.ok("task", "get", name, "-o", "json"))["spec"]["cancel"] is True
    # Delete: gone, and the next get says so with exit code 3.
    assert fleet.live.ok("task", "delete", name).strip() == f"task {name} deleted"
    gone = fleet.live.obt("task", "get", name)
    assert gone.returncode == EXIT_NOT_FOUND == 3
    assert f"task {name!r} not found at {fleet.live.base}" in gone.stderr
    assert fleet.live.obt("task", "cancel", name).returncode == 3


def test_wait_timeout_and_ctrl_c_leave_the_task_running(fleet: Fleet) -> None:
    late = fleet.live.obt(
        "models", "unload", "llama3.2", "--nodes", "a", "--wait", "--timeout", "1.5"
    )
    assert late.returncode == EXIT_WAIT_TIMEOUT == 6, late.stderr
    assert "--timeout 1.5 s passed" in late.stderr and "keeps running" in late.stderr
    before = fleet.task_names()
    run = Running(fleet.live.start("models", "rm", "llama3.2", "--nodes", "b", "--wait"))
    task = fleet.new_task(before)
    name = task["metadata"]["name"]
    until(lambda: run.saw("node b: Pending"), "the first progress line")
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == EXIT_INTERRUPTED == 130, run.text()
    said = "\n".join(run.err)
    assert f"task {name} keeps running" in said and f"obt task cancel {name}" in said
    assert fleet.task(name)["spec"].get("cancel") is not True


@pytest.mark.parametrize(
    ("argv", "wrong"),
    [
        # Refused here, before the server is asked.
        (["pull", "llama3.2", "--nodes", "a", "--selector", "room=lab"], "--nodes and --selector"),
        (["pull", "llama3.2", "-l", "room=lab,,gpu"], "--selector"),
        (["pull", "llama3.2", "-l", "zone in (a"], "'zone in (a'"),
        (["pull", "Llama 3", "--nodes", "a"], "'Llama 3' is not a model name"),
        (["load", "llama3.2", "--nodes", "a", "--keep-alive", "soon"], "--keep-alive: 'soon'"),
        # Refused by the server (422), naming the field.
        (["pull", "llama3.2", "-l", "room=attic"], "HTTP 422"),
        (["pull", "llama3.2", "--nodes", "a,nosuch"], "nosuch"),
    ],
)
def test_bad_input_exits_2_naming_what_is_wrong(fleet: Fleet, argv: list[str], wrong: str) -> None:
    before = fleet.task_names()
    result = fleet.live.obt("models", *argv)
    assert result.returncode == EXIT_USAGE == 2, (argv, result.stdout, result.stderr)
    assert wrong in result.stderr, (argv, result.stderr)
    assert fleet.task_names() == before  # nothing was created


SETS = """\
apiVersion: obt.dev/v1alpha1
kind: OllamaModelSet
metadata:
  name: lab-chat
spec:
  models:
  - name: llama3.2
  nodeSelector:
    matchLabels: {room: lab}
  maxConcurrentPulls: 1
---
apiVersion: obt.dev/v1alpha1
kind: OllamaModelSet
metadata:
  name: h100-code
spec:
  models:
  - name: qwen2.5-coder:7b
  nodeSelector:
    matchExpressions:
    - {key: gpu, operator: In, values: [h100]}
  keepLoaded: true
"""


def test_modelset_apply_creates_then_replaces_by_name(fleet: Fleet, tmp_path: Path) -> None:
    path = tmp_path / "sets.yaml"
    path.write_text(SETS)
    assert fleet.live.ok("modelset", "apply", "-f", str(path)).splitlines() == [
        "ollamamodelset/lab-chat created",
        "ollamamodelset/h100-code created",
    ]
    assert fleet.live.ok("modelset", "apply", "-f", str(path)).splitlines() == [
        "ollamamodelset/lab-chat unchanged",
        "ollamamodelset/h100-code unchanged",
    ]
    path.write_text(SETS.replace("maxConcurrentPulls: 1", "maxConcurrentPulls: 50%"))
    assert fleet.live.ok("modelset", "apply", "-f", str(path)).splitlines()[0] == (
        "ollamamodelset/lab-chat configured"
    )
    stored = json.loads(fleet.live.ok("modelset", "get", "lab-chat", "-o", "json"))
    assert stored["spec"]["maxConcurrentPulls"] == "50%"
    assert stored["spec"]["models"] == [{"name": LLAMA}]
    table = fleet.live.ok("modelset", "list").splitlines()
    assert table[0].split() == ["NAME", "MODELS", "SELECTED", "READY", "PULLING", "FAILED", "AGE"]
    assert {line.split()[0] for line in table[1:]} >= {"lab-chat", "h100-code"}

    # The reconciler counts the nodes each selector picks.
    def selected() -> bool:
        stored = json.loads(fleet.live.ok("modelset", "get", "lab-chat", "-o", "json"))
        return bool(stored.get("status", {}).get("selected") == 2)

    until(selected, "lab-chat to select a and b")
    described = fleet.live.ok("modelset", "get", "h100-code")
    assert re.search(r"Selector:\s+gpu in \(h100\)", described), described
    assert re.search(r"Keep loaded:\s+yes", described), described
    # a is selected and has not got the model yet: listed as not Ready, with what it misses.
    waiting = next(line.split() for line in described.splitlines() if line.startswith("  a "))
    assert waiting[2] == "qwen2.5-coder:7b", described
    assert fleet.live.ok("modelset", "delete", "h100-code").strip() == (
        "ollamamodelset/h100-code deleted"
    )
    assert fleet.live.obt("modelset", "get", "h100-code").returncode == 3
    # JSON on standard input is the same file.
    single = json.dumps(yaml.safe_load(SETS.split("---")[1]))
    piped = fleet.live.obt("modelset", "apply", "-f", "-", stdin=single)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip() == "ollamamodelset/h100-code created"


def test_modelset_apply_refuses_a_bad_file_naming_document_and_field(
    fleet: Fleet, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        SETS.replace("name: lab-chat", "name: not-sent").replace("qwen2.5-coder:7b", "qwen coder")
    )
    result = fleet.live.obt("modelset", "apply", "-f", str(path))
    assert result.returncode == EXIT_USAGE
    assert f"{path} (document 2): spec.models.0.name" in result.stderr, result.stderr
    # Nothing was sent: the first (good) document was not applied either.
    assert fleet.live.obt("modelset", "get", "not-sent").returncode == 3
    # What only the server checks comes back as its 422, naming the field.
    path.write_text(
        SETS.split("---")[0].replace("name: lab-chat", "name: odd\n  labels: {team: 'a b'}")
    )
    refused = fleet.live.obt("modelset", "apply", "-f", str(path))
    assert refused.returncode == EXIT_USAGE, refused.stderr
    assert "HTTP 422: metadata.labels: " in refused.stderr and "'a b'" in refused.stderr
    # A name Kubernetes would refuse is refused here, naming it.
    path.write_text(SETS.split("---")[0].replace("name: lab-chat", "name: Lab_Chat"))
    named = fleet.live.obt("modelset", "apply", "-f", str(path))
    assert named.returncode == EXIT_USAGE and "metadata.name 'Lab_Chat'" in named.stderr


def test_a_viewer_reads_tasks_but_may_not_run_them(fleet: Fleet) -> None:
    with fleet.live.admin() as http:
        r = http.post("/api/v1/tokens", json={"role": "viewer", "description": "cli test"})
    assert r.status_code == 201, r.text
    viewer = r.json()["token"]
    before = fleet.task_names()
    refused = fleet.live.obt("models", "pull", "llama3.2", "--nodes", "a", "--token", viewer)
    assert refused.returncode == 1, refused.stderr
    assert "HTTP 403" in refused.stderr and "operator role" in refused.stderr
    assert fleet.task_names() == before
    assert fleet.live.obt("task", "list", "--token", viewer).returncode == 0


def test_wait_with_json_prints_the_finished_task_and_progress_on_stderr(fleet: Fleet) -> None:
    before = fleet.task_names()
    run = Running(
        fleet.live.start("models", "pull", "llama3.2", "--nodes", "a", "--wait", "-o", "json")
    )
    task = fleet.new_task(before)
    fleet.report_activity("a", [step(task, "Succeeded", finishedAt="2026-12-03T20:01:00Z")])
    assert run.finish() == 0, run.text()
    finished = json.loads("\n".join(run.out))
    assert finished["metadata"]["name"] == task["metadata"]["name"]
    assert finished["status"]["phase"] == "Succeeded" and finished["status"]["succeeded"] == 1
    assert any(line.startswith("node a: ") for line in run.err), run.text()  # progress
    assert any(line.startswith(f"task {task['metadata']['name']} Succeeded") for line in run.err)
