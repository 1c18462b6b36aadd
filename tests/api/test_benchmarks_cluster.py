"""Benchmarks in cluster mode against the Kubernetes API test server: the API writes
OllamaBenchmark custom resources, the mirror brings benchmarks and OllamaBenchmarkResults (a
DaemonSet agent's, and a standalone agent's that the API wrote, owned by its benchmark) into
SQL, and the results' history survives deleting every custom resource (issue 16)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from obt.api.db.tables import BenchmarkRow
from obt.core.names import API_VERSION
from tests.api.bench_support import T0, result, wire
from tests.api.test_mirror import cluster_api, empty_db, kube, make_node, ready, wait_for
from tests.support.fixtures import REPO
from tests.support.kube_api_server import KubeApiServer

BENCH = (API_VERSION, "OllamaBenchmark")
RESULT = (API_VERSION, "OllamaBenchmarkResult")
__all__ = ["kube"]  # the fixture


async def test_cluster_benchmarks_results_and_history_after_the_crs_are_gone(
    db_url: str, kube: KubeApiServer
) -> None:
    kube.load_crds(
        [REPO / "crds" / "ollamabenchmark.yaml", REPO / "crds" / "ollamabenchmarkresult.yaml"]
    )
    await empty_db(db_url)
    make_node(kube, 1)
    async with cluster_api(db_url, kube, "replica-a") as api:
        await wait_for(lambda: ready(api, "synced"), what="the node mirror")
        c = api.client
        # The API writes the custom resource; a read right after sees it.
        r = await c.post(
            "/api/v1/benchmarks",
            json={
                "metadata": {"name": "speed"},
                "spec": {
                    "models": [{"name": "llama3.2"}],
                    "nodeSelector": {"matchLabels": {"zone": "z1"}},
                },
            },
            headers=api.admin,
        )
        assert r.status_code == 201, r.text
        obj = kube.get(*BENCH, "speed")
        assert obj is not None and obj["spec"]["nodeSelector"] == {"matchLabels": {"zone": "z1"}}
        uid = obj["metadata"]["uid"]
        assert r.json()["metadata"]["uid"] == uid
        assert (await c.get("/api/v1/benchmarks/speed")).status_code == 200
        r = await c.post(
            "/api/v1/benchmarks",
            json={
                "metadata": {"name": "speed"},
                "spec": {"models": [{"name": "x"}], "nodes": ["gpu-0001"]},
            },
            headers=api.admin,
        )
        assert r.status_code == 409, r.text
        # The operator's status reaches the row through the mirror.
        kube.patch(
            *BENCH, "speed", {"status": {"phase": "Running", "selected": 2}}, subresource="status"
        )
        await wait_for(lambda: _phase(api, "speed", "Running"), what="the mirrored status")
        # A DaemonSet agent's result, written as a custom resource.
        daemon = result("gpu-0001", T0, tg=50.0, benchmark="speed")
        kube.create(
            {
                "apiVersion": API_VERSION,
                "kind": "OllamaBenchmarkResult",
                "metadata": {"name": "speed-gpu-0001"},
                "spec": wire(daemon)["spec"] | {"benchmarkUid": uid},
            }
        )
        await wait_for(lambda: _names(api, "speed-gpu-0001"), what="the mirrored result")
        # A standalone agent's result: the API writes the custom resource, owned by the benchmark.
        r = await c.post("/api/v1/enrollment-tokens", json={}, headers=api.admin)
        r = await c.post(
            "/api/v1/agents/enroll",
            json={"enrollmentToken": r.json()["token"], "hostId": "Mac Studio"},
        )
        host, auth = r.json()["nodeName"], {"Authorization": f"Bearer {r.json()['token']}"}
        mine = result(
            host, T0 + timedelta(minutes=5), tg=30.0, benchmark="speed", placement="split"
        )
        r = await c.post(f"/api/v1/agents/{host}/benchmark-results", json=wire(mine), headers=auth)
        assert r.status_code == 201, r.text
        name = r.json()["name"]
        written = kube.get(*RESULT, name)
        assert written is not None and written["spec"]["node"] == host
        assert written["metadata"]["ownerReferences"][0]["uid"] == uid
        assert written["metadata"]["labels"] == {"obt.dev/benchmark": "speed"}
        assert await _names(api, "speed-gpu-0001", name)
        # Compare sees both machines, the split one labelled.
        m = (await c.get("/api/v1/benchmark-results/compare")).json()
        cells = {x["node"]: x for x in m["rows"][0]["cells"]}
        assert cells[host]["placement"] == "split" and m["rows"][0]["best"]["node"] == "gpu-0001"
        # Cancel patches the resource.
        r = await c.post("/api/v1/benchmarks/speed/cancel", headers=api.admin)
        assert r.status_code == 200 and kube.get(*BENCH, "speed")["spec"]["cancel"] is True  # type: ignore[index]
        # Deleting the benchmark and every result resource leaves the SQL history.
        assert (await c.delete("/api/v1/benchmarks/speed", headers=api.admin)).status_code == 204
        assert kube.get(*BENCH, "speed") is None
        for obj in kube.list_objects(*RESULT):
            kube.delete(*RESULT, obj["metadata"]["name"])
        assert kube.list_objects(*RESULT) == []
        await wait_for(lambda: _no_benchmark_row(api), what="the benchmark row gone")
        page = (await c.get("/api/v1/benchmark-results")).json()
        assert {i["name"] for i in page["items"]} == {"speed-gpu-0001", name}
        assert (await c.get("/api/v1/benchmarks/speed")).status_code == 404
    # A restart relists: the history is still there, the deleted benchmark is not back.
    async with cluster_api(db_url, kube, "replica-a") as api:
        await wait_for(lambda: ready(api, "synced"), what="the node mirror")
        page = (await api.client.get("/api/v1/benchmark-results")).json()
        assert page["total"] == 2
        assert (await api.client.get("/api/v1/benchmarks")).json()["total"] == 0


async def _phase(api: object, name: str, phase: str) -> bool:
    r = await api.client.get(f"/api/v1/benchmarks/{name}")  # type: ignore[attr-defined]
    return r.status_code == 200 and r.json()["status"].get("phase") == phase


async def _names(api: object, *names: str) -> bool:
    r = await api.client.get("/api/v1/benchmark-results")  # type: ignore[attr-defined]
    return set(names) <= {i["name"] for i in r.json()["items"]}


async def _no_benchmark_row(api: object) -> bool:
    async with api.state.sessions() as session:  # type: ignore[attr-defined]
        return (await session.execute(select(BenchmarkRow.name))).first() is None
