"""REST endpoints on both backends: migrations, nodes, models, fleet, health, metrics."""

from __future__ import annotations

from sqlalchemy import inspect, text

from obt.api.fake import fake_name, fake_report
from tests.api.conftest import Api

GIB = 1024**3


async def seed(api: Api, count: int = 12, **kw: object) -> list[str]:
    r = await api.client.post("/api/v1/admin/seed", json={"count": count, **kw}, headers=api.admin)
    assert r.status_code == 200, r.text
    return r.json()["names"]


async def test_migrations_create_every_table_at_head(api: Api) -> None:
    async with api.state.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert {"nodes", "node_models", "node_loaded_models", "node_gpus", "node_labels"} <= tables
    assert {
        "tombstones",
        "enrollment_tokens",
        "node_credentials",
        "node_condition_events",
        "fleet_generation",
        "api_tokens",
        "auth_sessions",
        "tasks",
        "model_sets",
        "work_generation",
        "benchmarks",
        "benchmark_results",
    } <= tables
    assert version == "0010"


async def test_health_ready_metrics(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    assert (await api.client.get("/readyz")).json() == {"status": "ok"}
    await seed(api, 2)
    body = (await api.client.get("/metrics")).text
    assert "obt_api_node_writes_total 2.0" in body
    assert "obt_api_sse_subscribers 0.0" in body


async def test_list_nodes_pagination_and_total(api: Api) -> None:
    names = await seed(api, 12)
    r = await api.client.get("/api/v1/nodes", params={"limit": 5, "offset": 10})
    page = r.json()
    assert r.status_code == 200
    assert page["total"] == 12 and page["limit"] == 5 and page["offset"] == 10
    assert [n["name"] for n in page["items"]] == names[10:12]
    first = (await api.client.get("/api/v1/nodes", params={"limit": 5})).json()["items"]
    assert [n["name"] for n in first] == names[:5]
    item = first[0]
    assert item["phase"] == "Ready" and item["source"] == "daemonset"
    assert item["modelCount"] == 20 and "gpuSummary" in item and "vramFreeBytes" in item


async def test_sorting(api: Api) -> None:
    await seed(api, 12)
    items = (await api.client.get("/api/v1/nodes", params={"sort": "-vramTotal"})).json()["items"]
    totals = [n["vramTotalBytes"] for n in items]
    assert totals == sorted(totals, reverse=True) and totals[0] > totals[-1]
    items = (await api.client.get("/api/v1/nodes", params={"sort": "loaded"})).json()["items"]
    loaded = [n["loadedCount"] for n in items]
    assert loaded == sorted(loaded)
    names = [
        n["name"]
        for n in (await api.client.get("/api/v1/nodes", params={"sort": "-name"})).json()["items"]
    ]
    assert names == sorted(names, reverse=True)
    bad = await api.client.get("/api/v1/nodes", params={"sort": "colour"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("sort (query)")


async def test_filters_and_search(api: Api) -> None:
    await seed(api, 14)
    reports = {fake_name(i): fake_report(i) for i in range(14)}

    async def names(**params: object) -> set[str]:
        r = await api.client.get("/api/v1/nodes", params={"limit": 500, **params})
        assert r.status_code == 200, r.text
        return {n["name"] for n in r.json()["items"]}

    amd = {n for n, rep in reports.items() if any(g.vendor == "amd" for g in rep.hardware.gpus)}
    assert amd and await names(gpuVendor="amd") == amd
    model = reports[fake_name(3)].ollama.models[0].name
    having = {n for n, rep in reports.items() if any(m.name == model for m in rep.ollama.models)}
    assert await names(hasModel=model) == having
    assert await names(search=model.upper()) >= having  # case-insensitive, model names count
    assert await names(search="mi300x") == amd - {
        n for n, rep in reports.items() if not any("MI300X" in g.name for g in rep.hardware.gpus)
    }
    assert await names(search="fake-00003") == {"fake-00003"}
    big = {n for n, rep in reports.items() if rep.summary().vram_total_bytes >= 160 * GIB}
    assert await names(minVramBytes=160 * GIB) == big
    assert await names(label="zone=zone-1") == {fake_name(i) for i in range(14) if i % 3 == 1}
    assert len(await names(label="obt.dev/fake")) == 14
    assert await names(source="standalone") == set()
    assert len(await names(phase="Ready")) == 14
    assert await names(phase="NotReady") == set()
    # Filters combine (AND) with the search and pagination's total.
    r = await api.client.get(
        "/api/v1/nodes", params={"gpuVendor": "amd", "label": "zone=zone-1", "limit": 1}
    )
    both = amd & {fake_name(i) for i in range(14) if i % 3 == 1}
    assert r.json()["total"] == len(both)
    assert (await api.client.get("/api/v1/nodes", params={"search": "100%_"})).json()["total"] == 0


async def test_get_node_has_everything(api: Api) -> None:
    await seed(api, 3)
    r = await api.client.get("/api/v1/nodes/fake-00001")
    node = r.json()
    assert r.status_code == 200
    assert node["hardware"]["cpu"]["physicalCores"] == 96
    assert node["ollama"]["version"] and node["ollama"]["reachable"] is True
    assert len(node["models"]) == 20 and isinstance(node["models"][0], dict)
    assert node["models"][0]["quantizationLevel"]
    assert node["spec"]["source"] == "daemonset"
    assert node["history"][0]["phase"] == "Ready"
    missing = await api.client.get("/api/v1/nodes/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


async def test_models_catalogue_and_placement(api: Api) -> None:
    await seed(api, 10)
    reports = [fake_report(i) for i in range(10)]
    r = await api.client.get("/api/v1/models", params={"sort": "-nodes", "limit": 500})
    page = r.json()
    expected: dict[str, int] = {}
    for rep in reports:
        for m in rep.ollama.models:
            expected[m.name] = expected.get(m.name, 0) + 1
    assert page["total"] == len(expected)
    assert {m["name"]: m["nodeCount"] for m in page["items"]} == expected
    counts = [m["nodeCount"] for m in page["items"]]
    assert counts == sorted(counts, reverse=True)
    loaded_name = next(rep.ollama.loaded[0].name for rep in reports if rep.ollama.loaded)
    detail = (await api.client.get(f"/api/v1/models/{loaded_name}")).json()
    assert detail["loadedOn"] and set(detail["loadedOn"]) <= set(detail["nodes"])
    assert detail["variants"][0]["loadedCount"] >= 1
    assert (await api.client.get("/api/v1/models", params={"search": loaded_name})).json()[
        "total"
    ] >= 1
    place = (await api.client.get("/api/v1/models/placement", params={"name": loaded_name})).json()
    assert place["requiredBytes"] > 0
    for n in place["nodes"]:
        assert n["fitsInVram"] or n["fitsInRam"] or n["loaded"]
    vram = [n["vramFreeBytes"] for n in place["nodes"] if n["fitsInVram"]]
    assert vram == sorted(vram, reverse=True)
    huge = await api.client.get(
        "/api/v1/models/placement", params={"name": "x:y", "requiredBytes": 10_000 * GIB}
    )
    assert huge.status_code == 200 and huge.json()["nodes"] == []
    assert (
        await api.client.get("/api/v1/models/placement", params={"name": "x:y"})
    ).status_code == 404
    assert (await api.client.get("/api/v1/models/none:latest")).status_code == 404


async def test_fleet_summary(api: Api) -> None:
    await seed(api, 10)
    s = (await api.client.get("/api/v1/fleet/summary")).json()
    reports = [fake_report(i) for i in range(10)]
    assert s["nodes"] == 10 and s["byPhase"] == {"Ready": 10} and s["bySource"] == {"daemonset": 10}
    assert s["vramTotalBytes"] == sum(r.summary().vram_total_bytes for r in reports)
    assert s["gpus"] == sum(len(r.hardware.gpus) for r in reports)
    assert sum(s["gpusByVendor"].values()) == s["gpus"]
    assert sum(s["ollamaVersions"].values()) == 10


async def test_delete_leaves_tombstone(api: Api) -> None:
    await seed(api, 2)
    r = await api.client.delete("/api/v1/admin/nodes/fake-00000", headers=api.admin)
    assert r.status_code == 204
    removed = (await api.client.get("/api/v1/nodes/-/removed")).json()
    assert removed[0]["name"] == "fake-00000" and removed[0]["reason"] == "DeletedByAdmin"
    assert (await api.client.get("/api/v1/nodes")).json()["total"] == 1
    assert (await api.client.get("/api/v1/fleet/summary")).json()["removedLastHour"] == 1
    # Seeding it again brings it back and clears the tombstone.
    await seed(api, 2)
    assert (await api.client.get("/api/v1/nodes/-/removed")).json() == []


async def test_reseeding_same_data_writes_nothing(api: Api) -> None:
    await seed(api, 5)
    r = await api.client.post("/api/v1/admin/seed", json={"count": 5}, headers=api.admin)
    assert r.json()["changed"] == 0
    r = await api.client.post(
        "/api/v1/admin/seed", json={"count": 5, "variant": 1}, headers=api.admin
    )
    assert r.json()["changed"] == 5


async def test_admin_endpoints_need_the_admin_token(api: Api) -> None:
    r = await api.client.post("/api/v1/admin/seed", json={"count": 1})
    assert r.status_code == 401
    r = await api.client.post(
        "/api/v1/admin/seed", json={"count": 1}, headers={"Authorization": "Bearer wrong"}
    )
    assert r.status_code == 401


async def test_model_names_without_a_tag_mean_latest_everywhere(api: Api) -> None:
    """Ollama lists `llama3.2:latest`; a person types `llama3.2` (or the full registry name)."""
    from obt.api.nodes.store import NodeRecord

    status = fake_report(0, models=0).model_copy(deep=True)
    status.ollama.models = [
        m.model_copy(update={"name": "llama3.2:latest", "size": 2 * GIB})
        for m in fake_report(0, models=1).ollama.models
    ]
    status.ollama.loaded = [
        m.model_copy(update={"name": "llama3.2:latest", "size_vram": GIB})
        for m in fake_report(1, models=3, variant=0).ollama.loaded[:1]
    ]
    assert status.ollama.loaded, "fake node 1 has one model loaded"
    body = dict(status.status_patch()["status"], phase="Ready")
    await api.state.store.upsert_many(
        [NodeRecord(name="laptop", spec={"source": "daemonset", "nodeName": "laptop"}, status=body)]
    )
    spellings = [
        "llama3.2",
        "llama3.2:latest",
        "library/llama3.2",
        "registry.ollama.ai/library/llama3.2:latest",
    ]
    for name in spellings:
        r = await api.client.get("/api/v1/nodes", params={"hasModel": name})
        assert [n["name"] for n in r.json()["items"]] == ["laptop"], name
        detail = await api.client.get(f"/api/v1/models/{name}")
        assert detail.status_code == 200, (name, detail.text)
        assert detail.json()["name"] == "llama3.2:latest" and detail.json()["nodes"] == ["laptop"]
        place = await api.client.get("/api/v1/models/placement", params={"name": name})
        assert place.status_code == 200 and place.json()["name"] == "llama3.2:latest", name
        found = await api.client.get("/api/v1/models", params={"search": name})
        assert [m["name"] for m in found.json()["items"]] == ["llama3.2:latest"], name
        r = await api.client.get("/api/v1/nodes", params={"loadedModel": name})
        assert [n["name"] for n in r.json()["items"]] == ["laptop"], name
    # Another tag is another model.
    r = await api.client.get("/api/v1/nodes", params={"hasModel": "llama3.2:1b"})
    assert r.json()["items"] == []
    assert (await api.client.get("/api/v1/models/llama3.2:1b")).status_code == 404


async def test_label_selector_requirements(api: Api) -> None:
    await seed(api, 6)

    async def names(*labels: str) -> set[str]:
        r = await api.client.get("/api/v1/nodes", params={"label": list(labels), "limit": 500})
        assert r.status_code == 200, r.text
        return {n["name"] for n in r.json()["items"]}

    zone1 = {fake_name(i) for i in range(6) if i % 3 == 1}
    everyone = {fake_name(i) for i in range(6)}
    assert await names("zone=zone-1") == zone1
    assert await names("zone==zone-1") == zone1
    assert await names("zone!=zone-1") == everyone - zone1
    assert await names("!zone") == set()
    assert await names("!nothing") == everyone
    assert await names("zone", "zone!=zone-1", "zone!=zone-2") == {fake_name(0), fake_name(3)}
