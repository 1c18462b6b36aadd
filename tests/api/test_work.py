"""Standalone agents' work delivery and the local reconciler (local mode, SQLite and PostgreSQL):
the heartbeat's workGeneration on both paths, GET .../work, PUT .../activity turned into task and
model-set status with SSE events, node labels, and TTL cleanup."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from obt.api.fake import fake_report
from obt.core.report import AgentReport
from tests.api.conftest import Api
from tests.api.test_agents import enroll, put_report
from tests.api.test_heartbeat_paths import both

MODEL = "llama3.2:latest"
DIGEST = "a" * 64


def report_with(index: int, *extra: str) -> AgentReport:
    """A fake host's report with `extra` models installed as well."""
    wire = fake_report(index, models=2).model_dump(mode="json", by_alias=True)
    for name in extra:
        wire["ollama"]["models"].append({"name": name, "digest": DIGEST[:12], "size": 1000})
    return AgentReport.model_validate(wire)


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


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
