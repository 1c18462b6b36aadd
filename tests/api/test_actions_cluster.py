"""Cluster mode against the in-repo Kubernetes API test server (SQLite and PostgreSQL): the API
writes OllamaTask and OllamaModelSet custom resources on the caller's behalf, the mirror brings
them (and objects written by others, kubectl or the operator) back into SQL, standalone hosts'
activity and labels land in their OllamaNodes, and the work generation follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obt.api.fake import fake_report
from tests.api.conftest import Api
from tests.api.test_mirror import cluster_api, empty_db, kube, make_node, ready, wait_for  # noqa: F401
from tests.support.kube_api_server import KubeApiServer

REPO = Path(__file__).resolve().parents[2]
TASK = ("obt.dev/v1alpha1", "OllamaTask")
SET = ("obt.dev/v1alpha1", "OllamaModelSet")
NODE = ("obt.dev/v1alpha1", "OllamaNode")


async def row(api: Api, path: str) -> dict[str, Any] | None:
    r = await api.client.get(path)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def prepare(db_url: str, kube: KubeApiServer, nodes: int) -> None:  # noqa: F811
    """The task and set CRDs installed, an empty database, `nodes` DaemonSet OllamaNodes."""
    kube.load_crds([REPO / "crds" / "ollamatask.yaml", REPO / "crds" / "ollamamodelset.yaml"])
    await empty_db(db_url)
    for i in range(nodes):
        make_node(kube, i)


async def test_the_api_writes_custom_resources_and_mirrors_them_back(
    db_url: str,
    kube: KubeApiServer,  # noqa: F811
) -> None:
    await prepare(db_url, kube, nodes=2)
    async with cluster_api(db_url, kube, "api-a") as api:
        await wait_for(lambda: ready(api, "synced"), what="the mirror synced")
        start = api.state.actions.store.work_generation if api.state.actions else 0

        # POST -> an OllamaTask in the cluster, readable at once (written through) and mirrored.
        task = {"spec": {"action": "pull", "models": [{"name": "llama3.2"}], "nodes": ["gpu-0000"]}}
        r = await api.client.post("/api/v1/tasks", json=task, headers=api.admin)
        assert r.status_code == 201, r.text
        name = r.json()["metadata"]["name"]
        obj = kube.get(*TASK, name)
        assert obj is not None and obj["spec"]["models"] == [{"name": "llama3.2:latest"}]
        assert r.json()["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
        assert (await row(api, f"/api/v1/tasks/{name}")) is not None
        assert api.state.actions is not None and api.state.actions.store.work_generation > start
        # 422s are decided before the cluster is asked.
        bad = {"spec": {"action": "pull", "models": [{"name": "m"}], "nodes": ["gpu-9999"]}}
        r = await api.client.post("/api/v1/tasks", json=bad, headers=api.admin)
        assert r.status_code == 422 and r.json()["detail"].startswith("spec.nodes[0]")
        assert len(kube.list_objects(*TASK)) == 1

        # The operator's status write comes back through the mirror.
        kube.patch(
            *TASK,
            name,
            {"status": {"phase": "Running", "selected": 1, "running": 1}},
            subresource="status",
        )
        await wait_for(lambda: _phase(api, name, "Running"), what="the operator's status mirrored")
        r = await api.client.get("/api/v1/tasks", params={"phase": "Running"})
        assert [t["metadata"]["name"] for t in r.json()["items"]] == [name]

        r = await api.client.post(f"/api/v1/tasks/{name}/cancel", headers=api.admin)
        assert r.status_code == 200 and r.json()["spec"]["cancel"] is True
        obj = kube.get(*TASK, name)
        assert obj is not None and obj["spec"]["cancel"] is True

        # A model set applied with kubectl (here: straight into the server) is mirrored.
        before = api.state.actions.store.work_generation
        kube.create(
            {
                "apiVersion": SET[0],
                "kind": SET[1],
                "metadata": {"name": "zone0"},
                "spec": {
                    "models": [{"name": "qwen2.5:7b"}],
                    "nodeSelector": {"matchLabels": {"zone": "z0"}},
                },
            }
        )
        await wait_for(lambda: row(api, "/api/v1/modelsets/zone0"), what="the kubectl set mirrored")
        await wait_for(
            lambda: (
                api.state.actions is not None and api.state.actions.store.work_generation > before
            ),
            what="the work generation raised by the mirror",
        )
        body = {
            "metadata": {"labels": {"tier": "gold"}},
            "spec": {
                "models": [{"name": "qwen2.5:7b"}, {"name": "phi3"}],
                "nodeSelector": {"matchLabels": {"zone": "z1"}},
            },
        }
        r = await api.client.put("/api/v1/modelsets/zone0", json=body, headers=api.admin)
        assert r.status_code == 200, r.text
        obj = kube.get(*SET, "zone0")
        assert obj is not None and obj["spec"]["nodeSelector"] == {"matchLabels": {"zone": "z1"}}
        assert obj["metadata"]["labels"] == {"tier": "gold"} and obj["metadata"]["generation"] == 2

        assert (
            await api.client.delete(f"/api/v1/tasks/{name}", headers=api.admin)
        ).status_code == 204
        assert kube.get(*TASK, name) is None and await row(api, f"/api/v1/tasks/{name}") is None
        kube.delete(*SET, "zone0")
        await wait_for(
            lambda: _gone(api, "/api/v1/modelsets/zone0"), what="the deleted set unmirrored"
        )
        r = await api.client.post("/api/v1/modelsets", json=body, headers=api.admin)
        assert r.status_code == 201
        set_name = r.json()["metadata"]["name"]
        r = await api.client.post(
            "/api/v1/modelsets", json={**body, "metadata": {"name": set_name}}, headers=api.admin
        )
        assert r.status_code == 409 and set_name in r.json()["detail"]


async def _phase(api: Api, name: str, phase: str) -> bool:
    found = await row(api, f"/api/v1/tasks/{name}")
    return found is not None and found["status"].get("phase") == phase


async def _gone(api: Api, path: str) -> bool:
    return await row(api, path) is None


async def test_standalone_activity_and_labels_land_in_the_ollamanode(
    db_url: str,
    kube: KubeApiServer,  # noqa: F811
) -> None:
    await prepare(db_url, kube, nodes=1)
    async with cluster_api(db_url, kube, "api-b") as api:
        await wait_for(lambda: ready(api, "synced"), what="the mirror synced")
        r = await api.client.post("/api/v1/enrollment-tokens", json={}, headers=api.admin)
        r = await api.client.post(
            "/api/v1/agents/enroll",
            json={"enrollmentToken": r.json()["token"], "hostId": "Mac", "labels": {"room": "lab"}},
        )
        assert r.status_code == 201, r.text
        name, auth = r.json()["nodeName"], {"Authorization": f"Bearer {r.json()['token']}"}
        report = fake_report(3, models=2)
        r = await api.client.put(
            f"/api/v1/agents/{name}/report", json=report.to_wire(), headers=auth
        )
        assert r.status_code == 200
        await wait_for(lambda: row(api, f"/api/v1/nodes/{name}"), what="the host mirrored")

        r = await api.client.put(
            f"/api/v1/nodes/{name}/labels", json={"labels": {"gpu": "m2"}}, headers=api.admin
        )
        assert r.status_code == 200, r.text
        obj = kube.get(*NODE, name)
        assert obj is not None
        assert obj["metadata"]["labels"] == {"gpu": "m2", "obt.dev/source": "standalone"}
        r = await api.client.put(
            "/api/v1/nodes/gpu-0000/labels", json={"labels": {}}, headers=api.admin
        )
        assert r.status_code == 409

        entry = {
            "sourceKind": "OllamaModelSet",
            "source": "lab",
            "action": "pull",
            "model": "phi3:latest",
            "phase": "Running",
            "completedBytes": 5,
            "totalBytes": 9,
        }
        r = await api.client.put(
            f"/api/v1/agents/{name}/activity", json={"activity": [entry]}, headers=auth
        )
        assert r.status_code == 200, r.text
        obj = kube.get(*NODE, name)
        assert obj is not None and obj["status"]["activity"][0]["completedBytes"] == 5

        async def mirrored_activity() -> bool:
            found = await row(api, f"/api/v1/nodes/{name}")
            return bool(
                found
                and found["activity"]
                and found["labels"] == {"gpu": "m2", "obt.dev/source": "standalone"}
            )

        await wait_for(mirrored_activity, what="activity and labels mirrored")

        r = await api.client.post(
            "/api/v1/modelsets",
            json={
                "metadata": {"name": "lab"},
                "spec": {
                    "models": [{"name": "phi3"}],
                    "nodeSelector": {"matchLabels": {"gpu": "m2"}},
                },
            },
            headers=api.admin,
        )
        assert r.status_code == 201
        work = (await api.client.get(f"/api/v1/agents/{name}/work", headers=auth)).json()
        assert [s["metadata"]["name"] for s in work["modelSets"]] == ["lab"]
        assert work["labels"]["gpu"] == "m2"
        r = await api.client.post(
            f"/api/v1/agents/{name}/heartbeat", json={"digest": report.digest()}, headers=auth
        )
        assert r.json()["workGeneration"] >= work["generation"]
