"""HTTP (standalone) mode acting on models against the fake OBT API (tests/agent/fake_obt_api.py,
with /work and /activity) and the fake Ollama: the heartbeat's workGeneration makes the agent
fetch its work, the pull reaches Ollama, activity goes back with PUT /activity within the 5 s
budget, the report shows the pulled model right after, and an API without work support (no
workGeneration) gets no work requests at all."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

from obt.agent.detect import Detector
from obt.agent.health import Health
from obt.agent.ollama_ops import OllamaOps
from obt.agent.reporters.http import HttpReporter
from obt.agent.reporters.http_work import HttpWork, parse_work
from obt.agent.runner import AgentLoop
from obt.agent.sources import default_sources
from obt.agent.worker import Worker
from tests.agent.fake_obt_api import ENROLLMENT_TOKEN, FakeObtApi
from tests.agent.recorded import recorded_probe
from tests.support.fixtures import REPO
from tests.support.processes import stop

HOST = "graviton-1"
GB = 1_000_000_000


def pull_task(name: str, model: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {"action": "pull", "models": [{"name": model}], "nodes": [HOST], **spec},
    }


def test_parse_work_skips_what_does_not_parse() -> None:
    labels, tasks, sets = parse_work(
        {
            "generation": 3,
            "labels": {"site": "lab"},
            "tasks": [pull_task("a", "llama3.2"), {"metadata": {"name": "bad"}, "spec": {}}],
            "modelSets": [{"metadata": {"name": "s"}, "spec": {"models": [{"name": "qwen2.5"}]}}],
        }
    )
    assert labels == {"site": "lab"}
    assert [t.metadata.name for t in tasks] == ["a"]
    assert [s.spec.models[0].name for s in sets] == ["qwen2.5:latest"]


async def make_agent(api: FakeObtApi, ollama: Any, clock: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    detector = Detector(
        probe=recorded_probe("aws-c7g-graviton3", ollama_url=ollama.url),
        mode="http",
        sources=default_sources(),
    )
    health = Health(interval=15, clock=clock, ready_cycles=3, failure_threshold=2)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    worker = Worker(
        OllamaOps(ollama.url),
        HOST,
        lambda a: asyncio.sleep(0),
        clock=clock,
        sleep=sleep,
        rng=random.Random(2),
    )
    work = HttpWork(worker, clock, state_file=tmp_path / "state" / "activity.json")
    reporter = HttpReporter(
        api.url,
        health,
        clock,
        data_dir=tmp_path / "state",
        host_id=HOST,
        enroll_token=ENROLLMENT_TOKEN,
        heartbeat_interval=10,
        request_timeout=5,
        rng=random.Random(4),
        work=work,
    )
    worker.sink = reporter.send_activity
    loop = AgentLoop(detector, reporter, health, interval=15, clock=clock)
    return loop, reporter, worker


async def run_until(loop: AgentLoop, clock: Any, done: Any, rounds: int = 600) -> None:
    for _ in range(rounds):
        await loop.step()
        if done():
            return
        await asyncio.sleep(0.005)
        clock.advance(1.0)
    raise AssertionError("not reached")


async def test_work_generation_fetch_pull_activity_and_report(ollama, clock, tmp_path) -> None:
    api = await FakeObtApi().start()
    ollama.publish("llama3.2", 2 * GB)
    loop, reporter, worker = await make_agent(api, ollama, clock, tmp_path)
    try:
        api.work_generation = 1  # the API supports work; nothing to do yet
        await run_until(loop, clock, lambda: api.count("GET", "/work") == 1)
        assert worker.tasks == [] and api.count("PUT", "/activity") == 0

        api.tasks = [pull_task("pull-llama", "llama3.2")]
        api.labels = {"site": "lab"}
        api.bump()

        def pulled() -> bool:
            entries = api.activity.get(HOST) or []
            report = api.reports.get(HOST) or {}
            models = [m.split()[0] for m in (report.get("ollama") or {}).get("models", [])]
            return any(e["phase"] == "Succeeded" for e in entries) and "llama3.2:latest" in models

        start = clock()
        await run_until(loop, clock, pulled)
        assert api.count("GET", "/work") == 2
        assert [r.body["model"] for r in ollama.calls("POST", "/api/pull")] == ["llama3.2:latest"]
        (entry,) = api.activity[HOST]
        assert entry["source"] == "pull-llama" and entry["totalBytes"] == 2 * GB
        assert worker.labels == {"site": "lab"}
        puts = api.count("PUT", "/activity")
        assert 1 <= puts <= (clock() - start) / 5 + 1

        # Idle for ten minutes (heartbeats go on, the generation stays): no work traffic.
        gets = api.count("GET", "/work")
        for _ in range(60):
            clock.advance(10)
            await loop.step()
        assert api.count("PUT", "/activity") == puts and api.count("GET", "/work") == gets
    finally:
        await reporter.close()
        await api.stop()


async def test_no_work_generation_means_no_work_requests(ollama, clock, tmp_path) -> None:
    api = await FakeObtApi().start()
    loop, reporter, worker = await make_agent(api, ollama, clock, tmp_path)
    try:
        for _ in range(60):
            await loop.step()
            clock.advance(5)
        assert api.count("POST", "/heartbeat") > 5
        assert api.count("GET", "/work") == 0 and api.count("PUT", "/activity") == 0
        assert worker.tasks is None
    finally:
        await reporter.close()
        await api.stop()


async def test_polls_every_minute_while_a_step_waits(ollama, clock, tmp_path) -> None:
    api = await FakeObtApi().start()
    ollama.publish("llama3.2", 2 * GB)
    ollama.hold("llama3.2")
    loop, reporter, _ = await make_agent(api, ollama, clock, tmp_path)
    try:
        api.tasks = [pull_task("pull-llama", "llama3.2")]
        api.work_generation = 1
        await run_until(loop, clock, lambda: ollama.pulls_active == 1)
        first = api.count("GET", "/work")
        await run_until(loop, clock, lambda: api.count("GET", "/work") > first, rounds=200)
        # the task was cancelled meanwhile (a missed generation change would still be seen)
        api.tasks = [pull_task("pull-llama", "llama3.2", cancel=True)]
        await run_until(
            loop,
            clock,
            lambda: any(e["phase"] == "Cancelled" for e in api.activity.get(HOST) or []),
            rounds=200,
        )
    finally:
        ollama.release("llama3.2")
        await reporter.close()
        await api.stop()


async def test_a_restarted_agent_knows_what_it_finished(ollama, clock, tmp_path) -> None:
    api = await FakeObtApi().start()
    ollama.publish("llama3.2", GB)
    api.tasks = [pull_task("pull-llama", "llama3.2")]
    api.work_generation = 1
    try:
        loop, reporter, _ = await make_agent(api, ollama, clock, tmp_path)
        try:
            await run_until(
                loop,
                clock,
                lambda: any(e["phase"] == "Succeeded" for e in api.activity.get(HOST) or []),
            )
        finally:
            await reporter.close()
        loop, reporter, worker = await make_agent(api, ollama, clock, tmp_path)
        try:
            assert [a.phase for a in worker.activity] == ["Succeeded"]  # kept on disk
            await run_until(loop, clock, lambda: api.count("GET", "/work") >= 2)
            for _ in range(30):
                await loop.step()
                clock.advance(1)
            assert len(ollama.calls("POST", "/api/pull")) == 1  # not pulled again
        finally:
            await reporter.close()
    finally:
        await api.stop()


async def test_the_obt_agent_process_works_for_the_api(ollama, tmp_path) -> None:
    """The real `obt agent --server` (run_agent's wiring: worker, sink, kept activity)."""
    api = await FakeObtApi().start()
    ollama.publish("tiny", 1_000_000)
    api.tasks = [pull_task("pull-tiny", "tiny")]
    api.work_generation = 1
    env = {
        **os.environ,
        "OBT_AGENT__HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "OBT_AGENT__DISK_MARGIN_BYTES": "0",
        "OBT_AGENT__OLLAMA_MODELS_DIR": str(tmp_path),
    }
    args = ["agent", "--server", api.url, "--enroll-token", ENROLLMENT_TOKEN, "--host-id", HOST]
    args += ["--data-dir", str(tmp_path / "state"), "--ollama-url", ollama.url]
    args += ["--interval", "30", "--listen", "off"]
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once; this loop serves the fakes)
        [str(REPO / ".venv" / "bin" / "obt"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def done() -> bool:
            entries = api.activity.get(HOST) or []
            report = api.reports.get(HOST) or {}
            models = [m.split()[0] for m in (report.get("ollama") or {}).get("models", [])]
            return [e["phase"] for e in entries] == ["Succeeded"] and "tiny:latest" in models

        for _ in range(600):  # up to 60 s on a busy machine
            if done() or proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert done(), stop(proc)
        kept = json.loads((tmp_path / "state" / "activity.json").read_text())
        assert [(e["source"], e["phase"]) for e in kept] == [("pull-tiny", "Succeeded")]
    finally:
        if proc.poll() is None:
            stop(proc)
        await api.stop()


async def test_a_changed_report_is_sent_on_a_clock_that_moves_between_reads(tmp_path) -> None:
    """A real monotonic clock reads later on each call: a changed report must still go out at
    once (before, it waited for the server to ask for it)."""
    from obt.core.report import AgentReport

    api = await FakeObtApi().start()
    ticks = [1000.0]

    def clock() -> float:
        ticks[0] += 1e-6
        return ticks[0]

    health = Health(interval=15, clock=clock, ready_cycles=3, failure_threshold=2)
    reporter = HttpReporter(
        api.url, health, clock, data_dir=tmp_path, host_id=HOST, enroll_token=ENROLLMENT_TOKEN
    )
    try:
        first = AgentReport.model_validate({"ollama": {"version": "0.5.7"}})
        reporter.offer(first)
        assert await reporter.step()
        assert api.count("PUT", "/report") == 1
        reporter.offer(
            first.model_copy(
                update={"ollama": first.ollama.model_copy(update={"version": "0.6.0"})}
            )
        )
        assert await reporter.step()
        assert api.count("PUT", "/report") == 2
    finally:
        await reporter.close()
        await api.stop()
