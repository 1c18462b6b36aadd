"""Benchmarks through the API in local mode (SQLite and PostgreSQL): CRUD and validation,
roles, results from a node token, the local reconciler's status, history kept after the
benchmark is deleted, compare (comparable results only, split labelled), export, regressions
flagged at ingestion, SSE events (issue 16)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from obt.api.benchmarks import store
from obt.api.fake import fake_report
from tests.api.bench_support import T0, result, wire
from tests.api.conftest import Api
from tests.api.test_agents import enroll, put_report
from tests.api.test_auth_roles import api_token
from tests.api.test_mirror import wait_for


async def host(api: Api, host_id: str) -> tuple[str, dict[str, str]]:
    """An enrolled standalone host (label room=office) that has reported."""
    name, auth = await enroll(api, host_id)
    await put_report(api, name, auth, fake_report(1, models=2))
    return name, auth


def bench_body(nodes: list[str], **spec: Any) -> dict[str, Any]:
    return {"spec": {"models": [{"name": "llama3.2"}], "nodes": nodes, **spec}}


async def test_create_validate_get_list_cancel_delete(api: Api) -> None:
    name, _ = await host(api, "bench-host")
    c = api.client
    r = await c.post(
        "/api/v1/benchmarks",
        json={"metadata": {"name": "first"}, **bench_body([name])},
        headers=api.admin,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["metadata"]["name"] == "first" and body["metadata"]["uid"]
    assert body["spec"]["models"][0]["name"] == "llama3.2:latest"
    assert body["spec"]["repetitions"] == 5 and body["spec"]["maxAge"] == "7d"
    # A name is generated when none is given.
    r = await c.post("/api/v1/benchmarks", json=bench_body([name]), headers=api.admin)
    assert r.status_code == 201 and r.json()["metadata"]["name"].startswith("bench-llama3-2-")
    r = await c.post(
        "/api/v1/benchmarks",
        json={"metadata": {"name": "first"}, **bench_body([name])},
        headers=api.admin,
    )
    assert r.status_code == 409 and "first" in r.json()["detail"]
    # Validation names the field.
    bad = [
        (bench_body([name], repetitions=3), "spec.repetitions"),
        ({"spec": {"models": [{"name": "llama3.2"}]}}, "nodes"),
        (bench_body([name], nodeSelector={"matchLabels": {"room": "office"}}), "exactly one"),
        (bench_body([name], maxAge="soon"), "spec.maxAge"),
        ({"spec": {"models": [], "nodes": [name]}}, "spec.models"),
        ({}, "spec"),
        ({"metadata": {"name": "Bad_Name"}, **bench_body([name])}, "metadata.name"),
        (bench_body(["no-such-node"]), "spec.nodes"),
        (
            {"spec": {"models": [{"name": "x"}], "nodeSelector": {"matchLabels": {"a": "b"}}}},
            "spec.nodeSelector",
        ),
    ]
    for payload, field in bad:
        r = await c.post("/api/v1/benchmarks", json=payload, headers=api.admin)
        assert r.status_code == 422, (payload, r.text)
        assert field in r.json()["detail"], (field, r.json()["detail"])
    # A selector that matches the host works.
    r = await c.post(
        "/api/v1/benchmarks",
        json={
            "metadata": {"name": "by-label"},
            "spec": {
                "models": [{"name": "llama3.2"}],
                "nodeSelector": {"matchLabels": {"room": "office"}},
            },
        },
        headers=api.admin,
    )
    assert r.status_code == 201, r.text
    page = (await c.get("/api/v1/benchmarks")).json()
    assert page["total"] == 3 and page["items"][0]["metadata"]["name"] == "by-label"
    assert (await c.get("/api/v1/benchmarks/first")).json()["metadata"]["name"] == "first"
    assert (await c.get("/api/v1/benchmarks/nope")).status_code == 404
    r = await c.post("/api/v1/benchmarks/first/cancel", headers=api.admin)
    assert r.status_code == 200 and r.json()["spec"]["cancel"] is True
    await wait_for(
        lambda: _phase(api, "first", "Cancelled"), what="the reconciler marks it Cancelled"
    )
    assert (await c.delete("/api/v1/benchmarks/first", headers=api.admin)).status_code == 204
    assert (await c.get("/api/v1/benchmarks/first")).status_code == 404
    assert (await c.delete("/api/v1/benchmarks/first", headers=api.admin)).status_code == 404


async def _phase(api: Api, name: str, phase: str) -> bool:
    r = await api.client.get(f"/api/v1/benchmarks/{name}")
    return r.status_code == 200 and r.json()["status"]["phase"] == phase


async def test_roles_viewer_reads_operator_writes(api: Api) -> None:
    name, _ = await host(api, "roles-host")
    viewer = {"Authorization": f"Bearer {await api_token(api, 'viewer')}"}
    operator = {"Authorization": f"Bearer {await api_token(api, 'operator')}"}
    r = await api.client.post("/api/v1/benchmarks", json=bench_body([name]), headers=viewer)
    assert r.status_code == 403 and "operator" in r.json()["detail"]
    r = await api.client.post(
        "/api/v1/benchmarks",
        json={"metadata": {"name": "ops"}, **bench_body([name])},
        headers=operator,
    )
    assert r.status_code == 201
    assert (await api.client.get("/api/v1/benchmarks/ops", headers=viewer)).status_code == 200
    r = await api.client.delete("/api/v1/benchmarks/ops", headers=viewer)
    assert r.status_code == 403
    r = await api.client.get("/api/v1/benchmark-results", headers=viewer)
    assert r.status_code == 200


async def test_agent_results_status_history_survives_deletion(api: Api) -> None:
    name, auth = await host(api, "gpu-box")
    other, other_auth = await host(api, "other-box")
    seen: list[dict[str, Any]] = []
    api.state.bus.listen(seen.append)
    r = await api.client.post(
        "/api/v1/benchmarks",
        json={"metadata": {"name": "b1"}, **bench_body([name])},
        headers=api.admin,
    )
    uid = r.json()["metadata"]["uid"]
    spec = result(name, T0, benchmark="b1")
    spec.benchmark_uid = uid
    path = f"/api/v1/agents/{name}/benchmark-results"
    # Only the node's own token, and only for its own node.
    assert (await api.client.post(path, json=wire(spec))).status_code == 401
    assert (await api.client.post(path, json=wire(spec), headers=other_auth)).status_code == 403
    r = await api.client.post(
        f"/api/v1/agents/{other}/benchmark-results", json=wire(spec), headers=other_auth
    )
    assert r.status_code == 403 and "spec.node" in r.json()["detail"]
    r = await api.client.post(path, json={"spec": {"node": name}}, headers=auth)
    assert r.status_code == 422 and "spec.fingerprint" in r.json()["detail"]
    r = await api.client.post(path, json=wire(spec), headers=auth)
    assert r.status_code == 201, r.text
    stored = r.json()["name"]
    # The same result again is the same record.
    r = await api.client.post(path, json=wire(spec), headers=auth)
    assert r.status_code == 201 and r.json()["name"] == stored
    # The agent's cache lookup by fingerprint.
    r = await api.client.get(path, params={"fingerprint": spec.fingerprint}, headers=auth)
    assert r.status_code == 200 and [x["name"] for x in r.json()] == [stored]
    assert r.json()[0]["spec"]["tg"]["mean"] == spec.tg.mean
    r = await api.client.get(path, params={"fingerprint": "0" * 64}, headers=auth)
    assert r.json() == []
    r = await api.client.get(path, params={"fingerprint": spec.fingerprint}, headers=api.admin)
    assert r.status_code in (401, 403)
    # The local reconciler turns the result into the benchmark's status.
    await wait_for(lambda: _phase(api, "b1", "Succeeded"), what="benchmark b1 Succeeded")
    status = (await api.client.get("/api/v1/benchmarks/b1")).json()["status"]
    assert status["done"] == 1 and status["ran"] == 1 and status["nodes"][0]["result"] == stored
    await wait_for(
        lambda: {e["type"] for e in seen} >= {"benchmark.result", "benchmark.progress"},
        what="SSE events",
    )
    # Deleting the benchmark leaves the history.
    assert (await api.client.delete("/api/v1/benchmarks/b1", headers=api.admin)).status_code == 204
    page = (await api.client.get("/api/v1/benchmark-results", params={"node": name})).json()
    assert page["total"] == 1 and page["items"][0]["name"] == stored
    assert page["items"][0]["benchmark"] == "b1"
    hist = (
        await api.client.get(
            "/api/v1/benchmark-results/history", params={"node": name, "model": "llama3.2"}
        )
    ).json()
    assert [p["result"] for p in hist["points"]] == [stored]


async def test_a_slowdown_after_an_upgrade_is_flagged_at_ingestion(api: Api) -> None:
    name, auth = await host(api, "upgraded")
    path = f"/api/v1/agents/{name}/benchmark-results"
    before = result(name, T0 - timedelta(days=2), tg=45.0, ollama_version="0.5.7")
    after = result(name, T0, tg=38.0, ollama_version="0.6.0")
    same = result(name, T0 + timedelta(days=1), tg=44.9, ollama_version="0.6.0")
    names = []
    for spec in (before, after, same):
        r = await api.client.post(path, json=wire(spec), headers=auth)
        assert r.status_code == 201, r.text
        names.append(r.json()["name"])
    hist = (
        await api.client.get(
            "/api/v1/benchmark-results/history", params={"node": name, "model": "llama3.2:latest"}
        )
    ).json()
    points = hist["points"]
    assert [p["result"] for p in points] == names
    assert "regression" not in points[0]
    assert points[1]["regression"]["changed"] == "Ollama 0.5.7 -> 0.6.0"
    assert points[1]["regression"]["previousResult"] == names[0]
    assert "regression" not in points[2]
    page = (await api.client.get("/api/v1/benchmark-results", params={"model": "llama3.2"})).json()
    flagged = [i for i in page["items"] if i.get("regression")]
    assert [i["name"] for i in flagged] == [names[1]]


async def test_compare_uses_only_comparable_results_and_labels_split(api: Api) -> None:
    announcer = store.Announcer(api.state.bus, api.state.store.dialect)
    specs = {
        # Comparable: same digest, Ollama version, options, prompts.
        "r-fast-split": result("big-box", T0, tg=80.0, placement="split", gpus=["RTX 3060"]),
        "r-gpu": result("gpu-box", T0, tg=60.0),
        "r-gpu-old": result("gpu-box", T0 - timedelta(days=1), tg=10.0),
        "r-cpu": result("cpu-box", T0, tg=8.0, placement="cpu", gpus=[]),
        # Not comparable (another Ollama version): left out though it is the fastest.
        "r-other": result("odd-box", T0, tg=500.0, ollama_version="0.7.0"),
        "r-mistral": result("gpu-box", T0, tg=70.0, model="mistral:latest"),
    }
    for name, spec in specs.items():
        assert await store.ingest(api.state.sessions, announcer, name, spec) is not None
    m = (await api.client.get("/api/v1/benchmark-results/compare")).json()
    assert m["nodes"] == ["big-box", "cpu-box", "gpu-box"]
    rows = {row["model"]: row for row in m["rows"]}
    llama = rows["llama3.2:latest"]
    assert llama["otherKeys"] == 1 and llama["ollamaVersion"] == "0.6.0"
    cells = {c["node"]: c for c in llama["cells"]}
    assert set(cells) == {"big-box", "cpu-box", "gpu-box"}
    assert cells["gpu-box"]["result"] == "r-gpu" and cells["gpu-box"]["tgMean"] == 60.0
    assert cells["big-box"]["placement"] == "split" and "split" in cells["big-box"]["flags"]
    assert cells["gpu-box"]["tgStddev"] > 0 and cells["gpu-box"]["cv"] >= 0
    assert llama["best"] == {
        "node": "big-box",
        "tgMean": 80.0,
        "placement": "split",
        "label": "split GPU/CPU",
        "bestFullGpu": "gpu-box",
    }
    assert rows["mistral:latest"]["best"]["label"] == "full GPU"
    # One model; or another key explicitly.
    m = (
        await api.client.get("/api/v1/benchmark-results/compare", params={"model": "llama3.2"})
    ).json()
    assert [r["model"] for r in m["rows"]] == ["llama3.2:latest"]
    other_key = store.bench.comparable_key(specs["r-other"].facts)
    m = (
        await api.client.get(
            "/api/v1/benchmark-results/compare", params={"model": "llama3.2", "key": other_key}
        )
    ).json()
    assert [c["node"] for c in m["rows"][0]["cells"]] == ["odd-box"]
    r = await api.client.get("/api/v1/benchmark-results/compare", params={"key": "zz"})
    assert r.status_code == 422 and "key" in r.json()["detail"]


async def test_export_csv_and_json_with_a_filename(api: Api) -> None:
    announcer = store.Announcer(api.state.bus, api.state.store.dialect)
    for i, node in enumerate(("a-box", "b-box")):
        await store.ingest(
            api.state.sessions, announcer, f"r{i}", result(node, T0 + timedelta(hours=i))
        )
    r = await api.client.get("/api/v1/benchmark-results", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="obt-benchmarks-' in r.headers["content-disposition"]
    assert r.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["node"] for row in rows] == ["b-box", "a-box"]
    assert rows[0]["tgMean"] == "45" and rows[0]["placement"] == "gpu"
    assert rows[0]["ollamaVersion"] == "0.6.0"
    r = await api.client.get(
        "/api/v1/benchmark-results", params={"format": "json", "node": "a-box"}
    )
    assert r.headers["content-disposition"].endswith('.json"')
    data = json.loads(r.text)
    assert data["total"] == 1 and [d["name"] for d in data["items"]] == ["r0"]
    assert data["items"][0]["spec"]["facts"]["options"]["numCtx"] == 4096
    r = await api.client.get("/api/v1/benchmark-results", params={"format": "xml"})
    assert r.status_code == 422 and "format" in r.json()["detail"]
    r = await api.client.get("/api/v1/benchmark-results", params={"since": "2026-12-03T12:30:00Z"})
    assert [i["name"] for i in r.json()["items"]] == ["r1"]
    r = await api.client.get("/api/v1/benchmark-results", params={"limit": 1, "offset": 1})
    assert r.json()["total"] == 2 and [i["name"] for i in r.json()["items"]] == ["r0"]


async def test_the_local_reconciler_writes_a_status_only_when_it_changed_and_not_too_often(
    api: Api,
) -> None:
    from obt.api.benchmarks.reconciler import BenchmarkReconciler

    assert api.state.bench_reconciler is not None
    await api.state.bench_reconciler.stop()  # this test drives its own
    name, auth = await host(api, "paced")
    r = await api.client.post(
        "/api/v1/benchmarks",
        json={"metadata": {"name": "paced"}, **bench_body([name])},
        headers=api.admin,
    )
    uid = r.json()["metadata"]["uid"]
    mine = BenchmarkReconciler(
        api.state.sessions, api.state.bus, api.state.store.dialect, min_interval_s=60.0
    )
    assert await mine.reconcile() == 1  # Pending, 1 pair selected
    assert (await api.client.get("/api/v1/benchmarks/paced")).json()["status"]["selected"] == 1
    spec = result(name, T0, benchmark="paced")
    spec.benchmark_uid = uid
    r = await api.client.post(
        f"/api/v1/agents/{name}/benchmark-results", json=wire(spec), headers=auth
    )
    assert r.status_code == 201
    # Changed, but written less than min_interval_s ago: not now.
    assert await mine.reconcile() == 0
    assert await _phase(api, "paced", "Pending")
    mine.min_interval_s = 0.0
    assert await mine.reconcile() == 1
    assert await _phase(api, "paced", "Succeeded")
    # Nothing changed: nothing written (and a finished benchmark is not looked at again).
    assert await mine.reconcile() == 0
    assert mine.writes == 2


async def test_the_cache_lookup_puts_measured_results_before_reused_ones(api: Api) -> None:
    name, auth = await host(api, "cache-box")
    path = f"/api/v1/agents/{name}/benchmark-results"
    measured = result(name, T0)
    r = await api.client.post(path, json=wire(measured), headers=auth)
    first = r.json()["name"]
    names = [first]
    for hours in (1, 2):
        reused = measured.model_copy(
            update={
                "cached": True,
                "reused_from": first,
                "measured_at": T0 + timedelta(hours=hours),
            }
        )
        r = await api.client.post(path, json=wire(reused), headers=auth)
        assert r.status_code == 201
        names.append(r.json()["name"])
    r = await api.client.get(path, params={"fingerprint": measured.fingerprint}, headers=auth)
    found = r.json()
    assert [x["name"] for x in found] == [names[0], names[2], names[1]]
    assert [x["spec"].get("cached", False) for x in found] == [False, True, True]
    assert found[1]["spec"]["reusedFrom"] == first
