"""Standalone agents' work delivery and the local reconciler (local mode, SQLite and PostgreSQL):
the heartbeat's workGeneration on both paths, GET .../work, PUT .../activity turned into task and
model-set status with SSE events, node labels, and TTL cleanup."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from obt.api.fake import fake_report
from obt.core.report import AgentReport
from tests.api.conftest import Api, _truncate, make_settings, running_api, served_api
from tests.api.test_agents import enroll, put_report
from tests.api.test_heartbeat_paths import both
from tests.api.test_mirror import wait_for as mirror_wait_for

MODEL = "llama3.2:latest"
DIGEST = "a" * 64


def report_with(index: int, *extra: str) -> AgentReport:
    """A fake host's report with `extra` models installed as well."""
    wire = fake_report(index, models=2).model_dump(mode="json", by_alias=True)
    for name in extra:
        wire["ollama"]["models"].append({"name": name, "digest": DIGEST[:12], "size": 1000})
    return AgentReport.model_validate(wire)


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    return await mirror_wait_for(check, timeout, what)


def activity(source_kind: str, source: str, phase: str, **extra: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc).isoformat()
    entry = {
        "sourceKind": source_kind,
        "source": source,
        "action": "pull",
        "model": MODEL,
        "phase": phase,
        "startedAt": now,
        **extra,
    }
    if phase in ("Succeeded", "Failed"):
        entry["finishedAt"] = now
    return entry


async def heartbeat_generation(api: Api, name: str, auth: dict[str, str], digest: str) -> int:
    """The workGeneration both heartbeat paths answer (they must agree)."""
    fast, full = await both(api, name, json={"digest": digest}, headers=auth)
    assert fast == full and fast[0] == 200, (fast, full)
    value: int = fast[1]["workGeneration"]
    return value


async def test_work_reaches_agents_and_activity_becomes_status(api: Api) -> None:
    a, a_auth = await enroll(api, "host-a")
    b, b_auth = await enroll(api, "host-b")
    reports = {a: report_with(1), b: report_with(2, MODEL)}
    await put_report(api, a, a_auth, reports[a])
    await put_report(api, b, b_auth, reports[b])
    start = await heartbeat_generation(api, a, a_auth, reports[a].digest())
    assert start == await heartbeat_generation(api, b, b_auth, reports[b].digest())

    async with api.state.bus.subscribe() as events:
        body = {
            "metadata": {"name": "office"},
            "spec": {
                "models": [{"name": "llama3.2"}],
                "nodeSelector": {"matchLabels": {"room": "office"}},
            },
        }
        r = await api.client.post("/api/v1/modelsets", json=body, headers=api.admin)
        assert r.status_code == 201, r.text
        task = {
            "metadata": {"name": "pull-a"},
            "spec": {"action": "pull", "models": [{"name": "llama3.2"}], "nodes": [a]},
        }
        r = await api.client.post("/api/v1/tasks", json=task, headers=api.admin)
        assert r.status_code == 201, r.text
        generation = await heartbeat_generation(api, a, a_auth, reports[a].digest())
        assert generation > start

        r = await api.client.get(f"/api/v1/agents/{a}/work", headers=a_auth)
        assert r.status_code == 200, r.text
        work = r.json()
        assert work["generation"] >= generation - 2  # the reconciler may have moved it since
        assert work["labels"] == {"room": "office"}
        assert [t["metadata"]["name"] for t in work["tasks"]] == ["pull-a"]
        assert [s["metadata"]["name"] for s in work["modelSets"]] == ["office"]
        work_b = (await api.client.get(f"/api/v1/agents/{b}/work", headers=b_auth)).json()
        assert work_b["tasks"] == [] and [s["metadata"]["name"] for s in work_b["modelSets"]] == [
            "office"
        ]
        # Another node's token, or none, gets nothing.
        assert (await api.client.get(f"/api/v1/agents/{a}/work", headers=b_auth)).status_code == 403
        assert (await api.client.get(f"/api/v1/agents/{a}/work")).status_code == 401

        async def task_phase() -> str:
            phase: str = (await api.client.get("/api/v1/tasks/pull-a")).json()["status"]["phase"]
            return phase

        async def set_status() -> dict[str, Any]:
            status: dict[str, Any] = (await api.client.get("/api/v1/modelsets/office")).json()[
                "status"
            ]
            return status

        # b has the model already; a must pull it (one pull at a time: a is admitted).
        status = await wait_for(
            lambda: _when(set_status(), lambda s: s.get("selected") == 2), "the set's status"
        )
        assert status["ready"] == 1 and status["admitted"] == [a]

        running = [
            activity("OllamaTask", "pull-a", "Running", completedBytes=10, totalBytes=100),
            activity("OllamaModelSet", "office", "Running", completedBytes=10, totalBytes=100),
        ]
        r = await api.client.put(
            f"/api/v1/agents/{a}/activity", json={"activity": running}, headers=a_auth
        )
        assert r.status_code == 200 and r.json()["changed"] is True, r.text
        r = await api.client.put(
            f"/api/v1/agents/{a}/activity", json={"activity": running}, headers=a_auth
        )
        assert r.json()["changed"] is False
        await wait_for(lambda: _when(task_phase(), lambda p: p == "Running"), "task Running")
        node = (await api.client.get(f"/api/v1/nodes/{a}")).json()
        assert [e["phase"] for e in node["activity"]] == ["Running", "Running"]

        done = [
            activity("OllamaTask", "pull-a", "Succeeded", digest=DIGEST),
            activity("OllamaModelSet", "office", "Succeeded", digest=DIGEST),
        ]
        r = await api.client.put(
            f"/api/v1/agents/{a}/activity", json={"activity": done}, headers=a_auth
        )
        assert r.status_code == 200, r.text
        reports[a] = report_with(1, MODEL)
        await put_report(api, a, a_auth, reports[a])
        await wait_for(lambda: _when(task_phase(), lambda p: p == "Succeeded"), "task Succeeded")
        status = await wait_for(
            lambda: _when(set_status(), lambda s: s.get("ready") == 2), "set ready on 2 nodes"
        )
        assert status["selected"] == 2 and status["nodes"] == []
        # A report does not wipe the activity the agent sent on its own route.
        node = (await api.client.get(f"/api/v1/nodes/{a}")).json()
        assert [e["phase"] for e in node["activity"]] == ["Succeeded", "Succeeded"]

        seen: list[dict[str, Any]] = []
        while not events.empty():
            seen.append(events.get_nowait())
    progress = [e for e in seen if e["type"] == "task.progress" and e["name"] == "pull-a"]
    assert [e["phase"] for e in progress][-1] == "Succeeded"
    assert "Running" in [e["phase"] for e in progress]
    changed = [e for e in seen if e["type"] == "modelset.changed" and e["name"] == "office"]
    assert changed[0]["change"] == "created" and changed[-1]["change"] == "status"
    assert changed[-1]["ready"] == 2
    assert any(e["type"] == "node.upserted" and e.get("activity") for e in seen)

    # The finished task no longer concerns a.
    work = (await api.client.get(f"/api/v1/agents/{a}/work", headers=a_auth)).json()
    assert work["tasks"] == [] and len(work["modelSets"]) == 1


async def _when(value: Any, test: Callable[[Any], bool]) -> Any:
    got = await value
    return got if test(got) else None


async def test_activity_is_validated_and_bounded(api: Api) -> None:
    a, auth = await enroll(api, "host-a")
    entry = activity("OllamaTask", "t", "Running")
    r = await api.client.put(
        f"/api/v1/agents/{a}/activity", json={"activity": [entry] * 21}, headers=auth
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("activity"), r.text
    r = await api.client.put(
        f"/api/v1/agents/{a}/activity",
        json={"activity": [{**entry, "phase": "Sleeping"}]},
        headers=auth,
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("activity[0].phase"), r.text
    r = await api.client.put(
        f"/api/v1/agents/{a}/activity", json={"activity": [entry]}, headers=auth
    )
    assert r.status_code == 404 and "report first" in r.json()["detail"]


async def test_labels_of_standalone_hosts(api: Api) -> None:
    a, auth = await enroll(api, "host-a")
    report = report_with(1)
    await put_report(api, a, auth, report)
    r = await api.client.put(
        f"/api/v1/nodes/{a}/labels", json={"labels": {"gpu": "4090"}}, headers=api.admin
    )
    assert r.status_code == 200 and r.json() == {"labels": {"gpu": "4090"}}, r.text
    node = (await api.client.get(f"/api/v1/nodes/{a}")).json()
    assert node["labels"] == {"gpu": "4090"}
    # The next report keeps them, and selectors see them.
    await put_report(api, a, auth, report_with(1, MODEL))
    assert (await api.client.get(f"/api/v1/nodes/{a}")).json()["labels"] == {"gpu": "4090"}
    page = (await api.client.get("/api/v1/nodes", params={"label": "gpu=4090"})).json()
    assert [n["name"] for n in page["items"]] == [a]
    task = {
        "spec": {
            "action": "load",
            "models": [{"name": MODEL}],
            "nodeSelector": {"matchLabels": {"gpu": "4090"}},
        }
    }
    assert (await api.client.post("/api/v1/tasks", json=task, headers=api.admin)).status_code == 201

    r = await api.client.put(
        f"/api/v1/nodes/{a}/labels", json={"labels": {"bad key!": "x"}}, headers=api.admin
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("labels"), r.text
    r = await api.client.put("/api/v1/nodes/nope/labels", json={"labels": {}}, headers=api.admin)
    assert r.status_code == 404
    r = await api.client.post("/api/v1/admin/seed", json={"count": 1}, headers=api.admin)
    seeded = r.json()["names"][0]
    r = await api.client.put(
        f"/api/v1/nodes/{seeded}/labels", json={"labels": {}}, headers=api.admin
    )
    assert r.status_code == 409 and "Kubernetes Node" in r.json()["detail"]


async def test_labels_of_the_serving_machine_survive_a_restart(api: Api) -> None:
    """`obt serve`'s own agent has no token and no credential row: the labels an admin gives
    its node stay when it reports again after a restart."""
    ingest = api.state.ingest
    await ingest.report(ingest.embedded("this-box", "this-box"), report_with(1))
    r = await api.client.put(
        "/api/v1/nodes/this-box/labels", json={"labels": {"gpu": "4090"}}, headers=api.admin
    )
    assert r.status_code == 200, r.text
    del ingest.by_name["this-box"]  # a restart: the in-process agent starts without labels
    await ingest.report(ingest.embedded("this-box", "this-box"), report_with(1, MODEL))
    node = (await api.client.get("/api/v1/nodes/this-box")).json()
    assert node["labels"] == {"gpu": "4090"} and node["modelCount"] == 3


async def test_finished_tasks_are_deleted_after_their_ttl(api: Api) -> None:
    r = await api.client.post("/api/v1/admin/seed", json={"count": 1}, headers=api.admin)
    node = r.json()["names"][0]
    task = {
        "metadata": {"name": "brief"},
        "spec": {
            "action": "unload",
            "models": [{"name": MODEL}],
            "nodes": [node],
            "ttlSecondsAfterFinished": 60,
        },
    }
    assert (await api.client.post("/api/v1/tasks", json=task, headers=api.admin)).status_code == 201
    assert (
        await api.client.post("/api/v1/tasks/brief/cancel", headers=api.admin)
    ).status_code == 200
    reconciler = api.state.actions.reconciler if api.state.actions else None
    assert reconciler is not None
    await wait_for(
        lambda: _when(
            api.client.get("/api/v1/tasks/brief"),
            lambda r: r.json()["status"].get("phase") == "Cancelled",
        ),
        "task Cancelled",
    )
    assert await reconciler.run_once(datetime.now(timezone.utc)) == 0
    later = datetime.now(timezone.utc) + timedelta(seconds=61)
    assert await reconciler.run_once(later) == 1
    assert (await api.client.get("/api/v1/tasks/brief")).status_code == 404


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_the_work_generation_reaches_other_replicas(db_url: str, api: Api) -> None:
    """A replica that did not write learns the new generation from the bus (NOTIFY), so its
    heartbeat answers carry it without reading the database."""
    async with running_api(make_settings(db_url)) as other:
        assert other.state.actions is not None and api.state.actions is not None
        before = other.state.actions.store.work_generation
        r = await api.client.post("/api/v1/admin/seed", json={"count": 1}, headers=api.admin)
        node = r.json()["names"][0]
        task = {"spec": {"action": "unload", "models": [{"name": MODEL}], "nodes": [node]}}
        assert (
            await api.client.post("/api/v1/tasks", json=task, headers=api.admin)
        ).status_code == 201
        written = api.state.actions.store.work_generation
        assert written > before
        await wait_for(
            lambda: (
                other.state.actions is not None
                and other.state.actions.store.work_generation >= written
            ),
            "the other replica's work generation",
        )


async def test_a_status_is_written_at_most_once_per_second(api: Api) -> None:
    """Progress arriving many times a second becomes at most one status write per second per
    object (the reconciler's rounds are a second apart; busy machines only space them more)."""
    a, auth = await enroll(api, "host-a")
    await put_report(api, a, auth, report_with(1))
    body = {"metadata": {"name": "fast"}, "spec": {"models": [{"name": MODEL}]}}
    assert (
        await api.client.post("/api/v1/modelsets", json=body, headers=api.admin)
    ).status_code == 201
    writes: list[float] = []
    assert api.state.actions is not None
    store = api.state.actions.store
    write_status = store.set_status

    async def timed(kind: str, name: str, *args: Any, **kw: Any) -> bool:
        """The store's own write, timed at its commit (not at an event's delivery)."""
        written = await write_status(kind, name, *args, **kw)
        if written and name == "fast":
            writes.append(time.monotonic())
        return written

    store.set_status = timed  # type: ignore[method-assign]
    started = time.monotonic()
    for done in range(0, 100, 4):  # 25 progress updates, as fast as they go
        entry = activity("OllamaModelSet", "fast", "Running", completedBytes=done, totalBytes=100)
        r = await api.client.put(
            f"/api/v1/agents/{a}/activity", json={"activity": [entry]}, headers=auth
        )
        assert r.status_code == 200
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # the last round
    elapsed = time.monotonic() - started
    assert writes, "no status was written"
    assert len(writes) <= elapsed + 1, (len(writes), elapsed)
    gaps = [b - a for a, b in itertools.pairwise(writes)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    metrics = (await api.client.get("/metrics")).text
    assert f"obt_api_action_status_writes_total {float(store.status_writes)}" in metrics
    status = (await api.client.get("/api/v1/modelsets/fast")).json()["status"]
    assert status["pulling"] == 1 and status["nodes"][0]["completedBytes"] == 96


async def test_task_events_reach_an_open_event_stream(db_url: str) -> None:
    """Over HTTP, as the dashboard reads them: a task created and cancelled streams
    task.changed twice, then task.progress with phase Cancelled from the reconciler."""
    async with served_api(make_settings(db_url)) as api:
        await _truncate(api.state)
        got: list[dict[str, Any]] = []
        started = asyncio.Event()

        async def read() -> None:
            async with api.client.stream("GET", "/api/v1/events") as r:
                event = None
                async for line in r.aiter_lines():
                    if line.startswith(": connected"):
                        started.set()
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        assert data["type"] == event
                        got.append(data)
                        if data["type"] == "task.progress" and data["phase"] == "Cancelled":
                            return

        reader = asyncio.create_task(read())
        await asyncio.wait_for(started.wait(), 10)
        r = await api.client.post("/api/v1/admin/seed", json={"count": 1}, headers=api.admin)
        node = r.json()["names"][0]
        task = {
            "metadata": {"name": "streamed"},
            "spec": {"action": "load", "models": [{"name": MODEL}], "nodes": [node]},
        }
        assert (
            await api.client.post("/api/v1/tasks", json=task, headers=api.admin)
        ).status_code == 201
        r = await api.client.post("/api/v1/tasks/streamed/cancel", headers=api.admin)
        assert r.status_code == 200
        await asyncio.wait_for(reader, 30)
    changes = [e["change"] for e in got if e["type"] == "task.changed"]
    assert changes == ["created", "updated"]
    assert all(isinstance(e["workGeneration"], int) for e in got if e["type"] == "task.changed")
    last = got[-1]
    assert last["name"] == "streamed" and last["selected"] == 1
