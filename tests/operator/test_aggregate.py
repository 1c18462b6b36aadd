"""The aggregator's wiring over the index: what marks a task or set dirty, when it writes, how often,
and the TTL. No kopf, no server: a writer that records, and a monotonic clock the test moves."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from obt.core.models.actions import OllamaTaskStatus
from obt.operator.aggregate import Aggregator, Transition, status_patch
from obt.operator.index import MODELSET, TASK, FleetIndex, WorkEntry, node_facts
from obt.operator.metrics import OperatorMetrics

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MODEL = "llama3.2:latest"


class Clocks:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = T0

    def tick(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


class RecordingWriter:
    """Writes into the index as the API server would answer (resourceVersion bumped)."""

    def __init__(self, index: FleetIndex) -> None:
        self.index = index
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        self.deleted: list[str] = []
        self.rv = 1000
        self.specs: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str, str]] = []

    async def write_work_status(self, entry: WorkEntry, status: dict[str, Any]) -> bool:
        self.writes.append((entry.kind, entry.name, status))
        self.rv += 1
        stored = {k: v for k, v in {**entry.status, **status}.items() if v is not None}
        body = {
            "metadata": {
                "name": entry.name,
                "uid": entry.uid,
                "generation": entry.generation,
                "resourceVersion": str(self.rv),
            },
            "spec": self.spec_of(entry),
            "status": stored,
        }
        self.index.observe_work(entry.kind, body)
        return True

    def spec_of(self, entry: WorkEntry) -> dict[str, Any]:
        return copy.deepcopy(self.specs[entry.name])

    def add(self, body: dict[str, Any]) -> None:
        """A task created (and seen through the watch)."""
        self.specs[body["metadata"]["name"]] = body["spec"]
        self.index.observe_work(TASK, body)

    async def work_event(self, entry: WorkEntry, transition: Transition, now: datetime) -> None:
        self.events.append((entry.name, transition.reason, transition.type))

    async def delete_task(self, entry: WorkEntry) -> bool:
        self.deleted.append(entry.name)
        self.index.forget_work(TASK, entry.name)
        return True


def onode(name: str, rv: int, activity: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
            "labels": {"obt.dev/pool": "a"},
        },
        "spec": {"source": "daemonset", "nodeName": name},
        "status": {"phase": "Ready", "activity": activity or []},
    }


def task_body(name: str = "pull-1", rv: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaTask",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "generation": 1,
            "resourceVersion": str(rv),
        },
        "spec": {"action": "pull", "models": [{"name": MODEL}], "nodes": ["gpu-1"], **spec},
    }


def running(task: str, completed: int) -> dict[str, Any]:
    return {
        "sourceKind": "OllamaTask",
        "source": task,
        "sourceUid": f"uid-{task}",
        "generation": 1,
        "action": "pull",
        "model": MODEL,
        "phase": "Running",
        "completedBytes": completed,
        "totalBytes": 10**9,
        "startedAt": T0.isoformat(),
    }


def setup(
    leader: list[bool] | None = None,
) -> tuple[FleetIndex, RecordingWriter, Aggregator, Clocks]:
    clocks = Clocks()
    index = FleetIndex(baseline=T0, listed=True)
    writer = RecordingWriter(index)
    gate = leader if leader is not None else [True]
    aggregator = Aggregator(
        index,
        writer,
        OperatorMetrics(),
        may_write=lambda: gate[0],
        clock=lambda: clocks.wall,
        monotonic=lambda: clocks.mono,
    )
    index.observe_ollamanode(onode("gpu-1", 1))
    return index, writer, aggregator, clocks


async def test_a_new_task_is_written_once_and_not_again_while_nothing_changes() -> None:
    index, writer, aggregator, clocks = setup()
    writer.add(task_body())
    await aggregator.run_once()
    assert [(k, n) for k, n, _ in writer.writes] == [(TASK, "pull-1")]
    status = writer.writes[0][2]
    assert status["selected"] == 1 and status["observedGeneration"] == 1
    for _ in range(5):
        clocks.tick(2)
        index.mark_all_work()
        await aggregator.run_once()
    assert len(writer.writes) == 1, writer.writes


async def test_a_burst_of_activity_is_one_write_per_second_carrying_the_latest() -> None:
    index, writer, aggregator, clocks = setup()
    writer.add(task_body())
    await aggregator.run_once()
    rv = 10
    for i in range(1, 41):  # 40 activity updates over 2 s, a round after each
        clocks.tick(0.05)
        rv += 1
        index.observe_ollamanode(onode("gpu-1", rv, [running("pull-1", i * 1000)]))
        await aggregator.run_once()
    assert len(writer.writes) <= 1 + 2 + 1, len(writer.writes)
    clocks.tick(1)
    await aggregator.run_once()  # the coalesced change, once its second is over
    latest = OllamaTaskStatus.model_validate(index.tasks["pull-1"].status)
    assert latest.phase == "Running"
    outcome = next(n for n in latest.nodes if n.node == "gpu-1")
    assert outcome.completed_bytes == 40_000
    writes = len(writer.writes)
    clocks.tick(5)
    await aggregator.run_once()
    assert len(writer.writes) == writes  # nothing new: nothing written


async def test_a_follower_writes_nothing_and_computes_everything_once_it_leads() -> None:
    leader = [False]
    index, writer, aggregator, clocks = setup(leader)
    writer.add(task_body())
    index.dirty.clear()  # whatever the marks say, a replica that starts to lead computes all
    await aggregator.run_once()
    assert writer.writes == []
    leader[0] = True
    clocks.tick(1)
    await aggregator.run_once()
    assert [n for _, n, _ in writer.writes] == ["pull-1"]


async def test_an_invalid_spec_is_reported_once() -> None:
    index, writer, aggregator, clocks = setup()
    body = task_body(nodeSelector={"matchLabels": {"obt.dev/pool": "a"}})  # and nodes: both
    writer.add(body)
    entry = index.tasks["pull-1"]
    assert entry.obj is None and entry.error and "not both" in entry.error
    await aggregator.run_once()
    assert len(writer.writes) == 1
    patch = writer.writes[0][2]
    assert patch["phase"] == "Failed"
    assert patch["conditions"][0]["reason"] == "InvalidSpec"
    clocks.tick(5)
    index.mark_all_work()
    await aggregator.run_once()
    assert len(writer.writes) == 1  # said once


def test_fields_that_went_away_are_removed_by_the_patch() -> None:
    index = FleetIndex(baseline=T0, listed=True)
    index.observe_ollamanode(onode("gpu-1", 1))
    body = task_body()
    body["status"] = {"phase": "Pending", "selected": 1, "someOldField": "x", "admitted": ["gpu-1"]}
    index.observe_work(TASK, body)
    patch = status_patch(index.tasks["pull-1"], index.facts_by_name(), [], T0)
    assert patch is not None
    assert patch["someOldField"] is None
    assert patch["admitted"] is None  # no maxConcurrent: every node may work


def test_what_marks_what() -> None:
    index = FleetIndex(baseline=T0, listed=True)
    index.observe_ollamanode(onode("gpu-1", 1))
    index.observe_work(TASK, task_body("t1"))
    index.observe_work(
        MODELSET,
        {
            "metadata": {"name": "s1", "uid": "uid-s1", "generation": 1, "resourceVersion": "5"},
            "spec": {"models": [{"name": MODEL}]},
        },
    )
    index.dirty.clear()
    # A node's hardware change marks nothing; its activity marks every set and unfinished task.
    changed = onode("gpu-1", 2)
    changed["status"]["hardware"] = {"cpu": {"model": "x"}}
    index.observe_ollamanode(changed)
    assert index.dirty == set()
    index.observe_ollamanode(onode("gpu-1", 3, [running("t1", 5)]))
    assert index.dirty == {(TASK, "t1"), (MODELSET, "s1")}
    index.dirty.clear()
    # An older version of an object (the watch behind our own write) is ignored.
    index.observe_work(TASK, task_body("t1", rv=0))
    assert index.dirty == set()
    # A finished task is not recomputed for node changes.
    finished = task_body("t1", rv=9)
    finished["status"] = {"phase": "Succeeded", "observedGeneration": 1}
    index.observe_work(TASK, finished)
    index.dirty.clear()
    index.observe_ollamanode(onode("gpu-1", 4))
    assert index.dirty == {(MODELSET, "s1")}


async def test_ttl_deletes_a_finished_task_after_its_seconds_not_before() -> None:
    index, writer, aggregator, clocks = setup()
    body = task_body(ttlSecondsAfterFinished=30)
    body["status"] = {
        "phase": "Succeeded",
        "selected": 1,
        "succeeded": 1,
        "observedGeneration": 1,
        "completionTime": T0.isoformat().replace("+00:00", "Z"),
    }
    writer.add(body)
    clocks.tick(29)
    await aggregator.run_once()
    assert writer.deleted == []
    clocks.tick(1)
    await aggregator.run_once()
    assert writer.deleted == ["pull-1"]
    assert "pull-1" not in index.tasks


def test_node_facts_read_only_what_tasks_and_sets_need() -> None:
    body = onode("gpu-1", 1, [running("t1", 5)])
    body["status"]["hardware"] = {"cpu": {"cores": "not a number"}}  # not read: no harm
    body["status"]["ollama"] = {
        "models": [f"{MODEL} a80c4f17acd5 2019393189 llama 3.2B Q4_K_M 2024-09-25T00:00:00Z"],
        "loaded": [{"name": MODEL}],
    }
    facts = node_facts(body)
    assert facts.ready and facts.labels == {"obt.dev/pool": "a"}
    assert facts.installed == {MODEL: "a80c4f17acd5"} and facts.loaded == {MODEL}
    assert [a.source for a in facts.activity] == ["t1"]
    # An activity entry the contract cannot read: the node counts, with nothing, not ready.
    body["status"]["activity"] = [{"phase": "Exploded"}]
    broken = node_facts(body)
    assert broken.name == "gpu-1" and not broken.ready and broken.installed == {}


async def test_a_set_waiting_for_pull_slots_settles_after_its_first_writes() -> None:
    index, writer, aggregator, clocks = setup()
    for i in (2, 3):
        index.observe_ollamanode(onode(f"gpu-{i}", 1))
    body = {
        "metadata": {"name": "s1", "uid": "uid-s1", "generation": 1, "resourceVersion": "5"},
        "spec": {"models": [{"name": MODEL}], "maxConcurrentPulls": 1},
    }
    writer.specs["s1"] = body["spec"]
    index.observe_work(MODELSET, body)
    for _ in range(10):
        await aggregator.run_once()
        clocks.tick(2)
        index.mark_all_work()
    status = index.modelsets["s1"].status
    assert status["selected"] == 3 and status["waiting"] == 3
    assert len(status["admitted"]) == 1
    assert len(writer.writes) <= 2, [w[2] for w in writer.writes]


async def test_a_finished_task_gets_one_event() -> None:
    index, writer, aggregator, clocks = setup()
    writer.add(task_body())
    await aggregator.run_once()
    assert writer.events == []  # Pending: nothing to tell
    done = {**running("pull-1", 10**9), "phase": "Succeeded", "finishedAt": T0.isoformat()}
    index.observe_ollamanode(onode("gpu-1", 5, [done]))
    clocks.tick(2)
    await aggregator.run_once()
    assert index.tasks["pull-1"].status["phase"] == "Succeeded"
    assert writer.events == [("pull-1", "Succeeded", "Normal")]
    clocks.tick(2)
    index.mark_all_work()
    await aggregator.run_once()
    assert len(writer.events) == 1
