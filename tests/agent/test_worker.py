"""The work loop (obt.agent.worker.Worker) against the fake Ollama, with the real planner
(obt.core.actions.node_steps) and simulated time: pulls with progress, retries that resume,
refusals (unknown model, disk full), cancellation, Busy skips, idempotence, a restart mid-pull,
and the write budget (at most one activity write per 5 s while running, none while idle)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any

from obt.agent.ollama_ops import OllamaOps
from obt.agent.worker import Worker
from obt.core.models.actions import OllamaModelSet, OllamaTask
from obt.core.models.activity import Activity
from tests.agent.fake_ollama import LLAMA

NODE = "gpu-1"
GB = 1_000_000_000


def task(name: str, action: str, *models: str, uid: str | None = None, **spec: Any) -> OllamaTask:
    return OllamaTask.model_validate(
        {
            "metadata": {"name": name, "uid": uid or f"uid-{name}", "generation": 1},
            "spec": {
                "action": action,
                "models": [{"name": m} for m in models],
                "nodes": [NODE],
                **spec,
            },
        }
    )


def model_set(name: str, *models: str, **spec: Any) -> OllamaModelSet:
    return OllamaModelSet.model_validate(
        {
            "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
            "spec": {"models": [{"name": m} for m in models], **spec},
            "status": {"admitted": [NODE]},
        }
    )


class Sink:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.writes: list[tuple[float, list[Activity]]] = []

    async def __call__(self, activity: list[Activity]) -> None:
        self.writes.append((self.clock(), activity))

    @property
    def last(self) -> list[Activity]:
        return self.writes[-1][1]


class Harness:
    def __init__(self, ollama: Any, clock: Any, **options: Any) -> None:
        self.ollama = ollama
        self.clock = clock
        self.sink = Sink(clock)
        self.sleeps: list[float] = []
        self.ops = OllamaOps(ollama.url, **options.pop("ops", {}))

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            clock.advance(seconds)

        self.worker = Worker(
            self.ops,
            NODE,
            self.sink,
            clock=clock,
            sleep=sleep,
            rng=random.Random(7),
            **options,
        )

    def work(self, tasks: list[OllamaTask] = [], sets: list[OllamaModelSet] = []) -> None:  # noqa: B006
        self.worker.set_work({}, tasks, sets)

    async def run(self, until: Callable[[], bool], rounds: int = 400, tick: float = 1.0) -> None:
        """Loop steps with simulated seconds between them (and a real moment for I/O)."""
        for _ in range(rounds):
            await self.worker.step()
            if until():
                return
            await asyncio.sleep(0.005)
            self.clock.advance(tick)
        raise AssertionError(f"not reached; activity: {self.worker.activity}")

    async def settle(self) -> None:
        """Run until nothing runs and the last change is written."""
        await self.run(lambda: not self.worker.busy and not self.worker.dirty)

    def entry(self, action: str, model: str) -> Activity:
        return next(a for a in self.worker.activity if a.action == action and a.model == model)

    async def close(self) -> None:
        await self.worker.close()
        await self.ops.close()


async def test_task_pull_succeeds_with_progress(ollama, clock) -> None:
    ollama.publish("llama3.2", 3 * GB)
    h = Harness(ollama, clock)
    try:
        h.work([task("pull-a", "pull", "llama3.2")])
        await h.settle()
        done = h.entry("pull", "llama3.2:latest")
        assert done.phase == "Succeeded" and done.attempts == 1
        assert done.completed_bytes == done.total_bytes == 3 * GB
        assert done.digest == ollama.registry["llama3.2:latest"].digest
        assert done.started_at is not None and done.finished_at is not None
        assert "llama3.2:latest" in ollama.installed()
        assert h.sink.last[0].phase == "Succeeded"
        assert h.worker.steps_finished == 1
        pulls = len(ollama.calls("POST", "/api/pull"))
        for _ in range(30):  # the finished task is not pulled again
            await h.worker.step()
            clock.advance(5)
        assert len(ollama.calls("POST", "/api/pull")) == pulls == 1
    finally:
        await h.close()


async def test_dropped_pulls_are_retried_with_backoff_and_resume(ollama, clock) -> None:
    ollama.publish("llama3.2", 3 * GB)
    ollama.fail_next("llama3.2", "drop", "drop", "http500")
    h = Harness(ollama, clock, backoff_base=2.0, backoff_cap=5.0)
    try:
        h.work([task("pull-a", "pull", "llama3.2")])
        await h.settle()
        done = h.entry("pull", "llama3.2:latest")
        assert done.phase == "Succeeded" and done.attempts == 4
        assert len(h.sleeps) == 3 and all(0 < s <= 5.0 for s in h.sleeps)  # capped
        assert len(ollama.calls("POST", "/api/pull")) == 4
    finally:
        await h.close()


async def test_registry_errors_are_not_retried(ollama, clock) -> None:
    h = Harness(ollama, clock)
    try:
        h.work([task("pull-x", "pull", "no-such-model")])
        await h.settle()
        failed = h.entry("pull", "no-such-model:latest")
        assert failed.phase == "Failed" and failed.reason == "OllamaError"
        assert failed.message == "pull model manifest: file does not exist"
        assert failed.attempts == 1 and h.sleeps == []
    finally:
        await h.close()


async def test_gives_up_after_the_attempts(ollama, clock) -> None:
    ollama.publish("llama3.2", GB)
    ollama.fail_next("llama3.2", *["drop"] * 5)
    h = Harness(ollama, clock, pull_attempts=3)
    try:
        h.work([task("pull-a", "pull", "llama3.2")])
        await h.settle()
        failed = h.entry("pull", "llama3.2:latest")
        assert failed.phase == "Failed" and failed.reason == "PullInterrupted"
        assert failed.attempts == 3 and "gave up after 3 attempts" in failed.message
    finally:
        await h.close()


async def test_disk_full_is_refused_with_a_clear_reason(ollama, clock) -> None:
    ollama.publish("big", 40 * GB)
    ollama.hold("big")
    h = Harness(ollama, clock, ops={"disk_margin": GB, "free_space": lambda: 8 * GB})
    try:
        h.work([task("pull-big", "pull", "big")])
        await h.settle()
        failed = h.entry("pull", "big:latest")
        assert failed.phase == "Failed" and failed.reason == "DiskFull"
        assert "40.0 GB to download, 8.0 GB free" in failed.message
        assert failed.attempts == 1
        assert "big:latest" not in ollama.installed()
    finally:
        ollama.release("big")
        await h.close()


async def test_deleting_or_cancelling_a_task_stops_its_pull(ollama, clock) -> None:
    ollama.publish("llama3.2", 3 * GB)
    ollama.hold("llama3.2")
    h = Harness(ollama, clock)
    try:
        pull = task("pull-a", "pull", "llama3.2")
        h.work([pull])
        await h.run(lambda: ollama.pulls_active == 1 and h.worker.busy)
        h.work([])  # the task was deleted
        await h.settle()
        stopped = h.entry("pull", "llama3.2:latest")
        assert stopped.phase == "Cancelled" and "task pull-a was deleted" in stopped.message
        await h.run(lambda: ollama.pulls_active == 0)
        assert ollama.pulls_aborted == 1 and "llama3.2:latest" not in ollama.installed()

        again = task("pull-b", "pull", "llama3.2")
        h.work([again])
        await h.run(lambda: ollama.pulls_active == 1 and h.worker.busy)
        h.work([again.model_copy(update={"spec": again.spec.model_copy(update={"cancel": True})})])
        await h.settle()
        assert h.entry("pull", "llama3.2:latest").phase == "Cancelled"
        assert next(a for a in h.worker.activity if a.source == "pull-b").message == (
            "stopped: task pull-b was cancelled"
        )
    finally:
        ollama.release("llama3.2")
        await h.close()


async def test_delete_of_a_loaded_model_is_skipped_busy_unless_evict(ollama, clock) -> None:
    ollama.load(LLAMA)
    h = Harness(ollama, clock)
    h.worker.set_loaded(["llama3.1:8b"])
    try:
        h.work([task("rm", "delete", "llama3.1:8b")])
        await h.settle()
        skipped = h.entry("delete", "llama3.1:8b")
        assert skipped.phase == "Skipped" and skipped.reason == "Busy"
        assert "llama3.1:8b" in ollama.installed() and not ollama.calls("DELETE", "/api/delete")

        h.work([task("rm-evict", "delete", "llama3.1:8b", evict=True)])
        await h.settle()
        assert next(a for a in h.worker.activity if a.source == "rm-evict").phase == "Succeeded"
        assert ollama.installed() == {} and ollama.loaded == []
    finally:
        await h.close()


async def test_pinned_digest_already_installed_needs_no_pull(ollama, clock) -> None:
    h = Harness(ollama, clock)
    try:
        pinned = OllamaTask.model_validate(
            {
                "metadata": {"name": "pin", "uid": "u1"},
                "spec": {
                    "action": "pull",
                    "models": [{"name": "llama3.1:8b", "digest": LLAMA["digest"]}],
                    "nodes": [NODE],
                },
            }
        )
        h.work([pinned])
        await h.settle()
        done = h.entry("pull", "llama3.1:8b")
        assert done.phase == "Succeeded" and done.digest == LLAMA["digest"]
        assert ollama.calls("POST", "/api/pull") == []
    finally:
        await h.close()


async def test_load_then_unload(ollama, clock) -> None:
    h = Harness(ollama, clock)
    try:
        h.work([task("up", "load", "llama3.1:8b", keepAlive="10m")])
        await h.settle()
        assert h.entry("load", "llama3.1:8b").phase == "Succeeded"
        assert [m["name"] for m in ollama.loaded] == ["llama3.1:8b"]
        assert ollama.calls("POST", "/api/generate")[-1].body["keep_alive"] == "10m"
        h.work([task("down", "unload", "llama3.1:8b")])
        await h.settle()
        assert h.entry("unload", "llama3.1:8b").phase == "Succeeded"  # loaded by us
        assert ollama.loaded == []
        assert ollama.calls("POST", "/api/generate")[-1].body["keep_alive"] == 0
    finally:
        await h.close()


async def test_unload_of_a_model_someone_else_loaded_is_skipped(ollama, clock) -> None:
    ollama.load(LLAMA)
    h = Harness(ollama, clock)
    h.worker.set_loaded(["llama3.1:8b"])
    try:
        h.work([task("down", "unload", "llama3.1:8b")])
        await h.settle()
        assert h.entry("unload", "llama3.1:8b").reason == "Busy"
        assert len(ollama.loaded) == 1
    finally:
        await h.close()


async def test_model_set_pulls_one_at_a_time_and_loads(ollama, clock) -> None:
    ollama.publish("a", GB)
    ollama.publish("b", GB)
    ollama.delay = 0.002
    h = Harness(ollama, clock)
    try:
        h.work(sets=[model_set("base", "a", "b", keepLoaded=True)])
        await h.run(
            lambda: (
                {"a:latest", "b:latest"} <= set(ollama.installed())
                and {"a:latest", "b:latest"} <= {m["name"] for m in ollama.loaded}
            )
        )
        await h.settle()
        assert ollama.pulls_max == 1
        assert all(a.phase == "Succeeded" for a in h.worker.activity)
        loads = ollama.calls("POST", "/api/generate")
        assert {r.body["keep_alive"] for r in loads} == {-1}
    finally:
        await h.close()


async def test_restarted_agent_resumes_the_pull(ollama, clock) -> None:
    ollama.publish("llama3.2", 3 * GB)
    ollama.hold("llama3.2")
    first = Harness(ollama, clock)
    pull = task("pull-a", "pull", "llama3.2")
    try:
        first.work([pull])
        await first.run(lambda: ollama.pulls_active == 1 and first.worker.busy)
        clock.advance(10)
        await first.worker.flush()
        stored = first.sink.last
        assert stored[0].phase == "Running" and stored[0].attempts == 1
    finally:
        await first.close()  # the agent dies mid-pull
    ollama.release("llama3.2")
    second = Harness(ollama, clock)
    try:
        second.worker.restore(stored)
        second.work([pull])
        await second.settle()
        done = second.entry("pull", "llama3.2:latest")
        assert done.phase == "Succeeded" and done.attempts == 2
        requests = ollama.calls("POST", "/api/pull")
        assert len(requests) == 2  # one before the restart, one after (which resumed)
    finally:
        await second.close()


async def test_write_budget_while_running_and_none_while_idle(ollama, clock) -> None:
    ollama.publish("llama3.2", 3 * GB)
    ollama.chunks = 300  # a long stream of progress lines
    ollama.delay = 0.001
    h = Harness(ollama, clock)
    try:
        h.work([task("pull-a", "pull", "llama3.2")])
        start = clock()
        await h.run(lambda: not h.worker.busy, rounds=5000, tick=0.5)
        await h.settle()
        times = [t for t, _ in h.sink.writes]
        assert len(times) >= 2  # the start and the end at least
        running = [w[0] for _, w in h.sink.writes if w[0].phase == "Running"]
        assert any(0 < (a.completed_bytes or 0) < 3 * GB for a in running)  # progress went out
        assert all(b - a >= 5.0 for a, b in itertools.pairwise(times)), times
        assert len(times) <= (clock() - start) / 5.0 + 1
        assert h.sink.last[0].phase == "Succeeded"
        idle = len(times)
        for _ in range(120):  # ten idle minutes, the task still listed
            clock.advance(5)
            await h.worker.step()
        assert len(h.sink.writes) == idle
    finally:
        await h.close()


async def test_waits_for_ollama_before_planning_a_set(ollama, clock) -> None:
    ollama.publish("a", GB)
    h = Harness(ollama, clock)
    url = h.ops.base
    h.ops.base = "http://127.0.0.1:9"  # Ollama not up yet (the discard port: refused)
    try:
        h.work(sets=[model_set("base", "llama3.1:8b", "a")])
        for _ in range(5):
            await h.worker.step()
            clock.advance(5)
        assert h.worker.activity == [] and h.sink.writes == []  # no spurious failures
        h.ops.base = url
        await h.settle()
        assert [(a.model, a.phase) for a in h.worker.activity] == [("a:latest", "Succeeded")]
        assert [r.body["model"] for r in ollama.calls("POST", "/api/pull")] == ["a:latest"]
    finally:
        await h.close()


async def test_a_pinned_set_corrects_drift_or_says_the_tag_moved(ollama, clock) -> None:
    h = Harness(ollama, clock)
    pin = "ab" * 32
    try:
        # llama3.1:8b is installed with another digest; the registry serves the pinned one
        ollama.publish("llama3.1:8b", GB, digest=pin)
        mset = OllamaModelSet.model_validate(
            {
                "metadata": {"name": "pinned", "uid": "u-p", "generation": 1},
                "spec": {"models": [{"name": "llama3.1:8b", "digest": pin}]},
                "status": {"admitted": [NODE]},
            }
        )
        h.work(sets=[mset])
        await h.settle()
        fixed = h.entry("pull", "llama3.1:8b")
        assert fixed.phase == "Succeeded" and fixed.digest == pin
        assert ollama.installed()["llama3.1:8b"] == pin

        ollama.publish("llama3.1:8b", GB, digest="cd" * 32)  # the tag moved on
        other = mset.model_copy(
            update={"metadata": mset.metadata.model_copy(update={"name": "pinned-2", "uid": "u2"})}
        )
        ollama.models = [m for m in ollama.models if m["name"] != "llama3.1:8b"]
        h.worker.mark_inventory_stale()
        h.work(sets=[other])
        await h.settle()
        moved = next(a for a in h.worker.activity if a.source == "pinned-2")
        assert moved.phase == "Failed" and moved.reason == "DigestMismatch"
        assert "the registry's tag moved on" in moved.message
    finally:
        await h.close()


async def test_a_pruning_set_deletes_unnamed_models_but_not_loaded_ones(ollama, clock) -> None:
    ollama.publish("a", GB)
    ollama.models.append({**LLAMA, "name": "old:latest", "model": "old:latest"})
    ollama.load({**LLAMA, "name": "busy:latest", "model": "busy:latest"})
    ollama.models.append({**LLAMA, "name": "busy:latest", "model": "busy:latest"})
    h = Harness(ollama, clock)
    h.worker.set_loaded(["busy:latest"])
    try:
        h.work(sets=[model_set("only-a", "a", prune=True)])
        await h.run(
            lambda: "a:latest" in ollama.installed() and "old:latest" not in ollama.installed()
        )
        await h.settle()
        assert set(ollama.installed()) == {"a:latest", "busy:latest"}
        deleted = {a.model for a in h.worker.activity if a.action == "delete"}
        assert deleted == {"old:latest", "llama3.1:8b"}
        assert all(a.phase == "Succeeded" for a in h.worker.activity)
    finally:
        await h.close()
