"""Tasks and model sets over REST in local mode, on SQLite and PostgreSQL: create, read, list,
cancel, replace, delete, the checks made before anything is stored, roles, and the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from obt.api.db.tables import AuditEntry, ModelSetRow, TaskRow
from tests.api.conftest import Api
from tests.api.test_auth_roles import api_token


async def seed(api: Api, count: int = 3) -> list[str]:
    r = await api.client.post("/api/v1/admin/seed", json={"count": count}, headers=api.admin)
    assert r.status_code == 200, r.text
    names: list[str] = r.json()["names"]
    return names


def pull(nodes: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"action": "pull", "models": [{"name": "llama3.2"}], **spec}
    if nodes is not None:
        body["nodes"] = nodes
    return {"spec": body}


async def count_rows(api: Api, table: Any) -> int:
    async with api.state.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_task_crud_with_a_generated_name(api: Api) -> None:
    nodes = await seed(api)
    r = await api.client.post("/api/v1/tasks", json=pull(nodes[:2]), headers=api.admin)
    assert r.status_code == 201, r.text
    task = r.json()
    name = task["metadata"]["name"]
    assert (
        name.startswith("pull-llama3.2-latest-") and len(name) == len("pull-llama3.2-latest-") + 5
    )
    assert task["apiVersion"] == "obt.dev/v1alpha1" and task["kind"] == "OllamaTask"
    assert task["metadata"]["uid"] and task["metadata"]["generation"] == 1
    # The model name is normalised to `ollama list` form.
    assert task["spec"]["models"] == [{"name": "llama3.2:latest"}]
    assert task["spec"]["nodes"] == nodes[:2]

    r = await api.client.get(f"/api/v1/tasks/{name}")
    assert r.status_code == 200 and r.json()["metadata"]["uid"] == task["metadata"]["uid"]

    body = pull(nodes[:1])
    body["metadata"] = {"name": "load-one", "labels": {"team": "ml"}}
    body["spec"]["action"] = "load"
    body["spec"]["keepAlive"] = "10m"
    r = await api.client.post("/api/v1/tasks", json=body, headers=api.admin)
    assert r.status_code == 201, r.text
    assert r.json()["metadata"]["labels"] == {"team": "ml"}

    page = (await api.client.get("/api/v1/tasks")).json()
    assert page["total"] == 2 and [t["metadata"]["name"] for t in page["items"]] == [
        "load-one",
        name,
    ]
    page = (await api.client.get("/api/v1/tasks", params={"action": "load"})).json()
    assert [t["metadata"]["name"] for t in page["items"]] == ["load-one"]
    page = (await api.client.get("/api/v1/tasks", params={"phase": "Succeeded"})).json()
    assert page["total"] == 0 and page["items"] == []
    page = (await api.client.get("/api/v1/tasks", params={"limit": 1, "offset": 1})).json()
    assert page["total"] == 2 and [t["metadata"]["name"] for t in page["items"]] == [name]

    r = await api.client.post(f"/api/v1/tasks/{name}/cancel", headers=api.admin)
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["cancel"] is True and r.json()["metadata"]["generation"] == 2

    r = await api.client.post("/api/v1/tasks", json=body, headers=api.admin)
    assert r.status_code == 409 and "load-one" in r.json()["detail"]

    assert (await api.client.delete(f"/api/v1/tasks/{name}", headers=api.admin)).status_code == 204
    r = await api.client.get(f"/api/v1/tasks/{name}")
    assert r.status_code == 404 and name in r.json()["detail"]
    assert (await api.client.delete(f"/api/v1/tasks/{name}", headers=api.admin)).status_code == 404
    r = await api.client.post(f"/api/v1/tasks/{name}/cancel", headers=api.admin)
    assert r.status_code == 404


async def test_bad_tasks_are_422_naming_the_field_and_nothing_is_stored(api: Api) -> None:
    nodes = await seed(api)

    async def refused(body: dict[str, Any], field: str) -> str:
        r = await api.client.post("/api/v1/tasks", json=body, headers=api.admin)
        assert r.status_code == 422, r.text
        detail: str = r.json()["detail"]
        assert detail.startswith(field), detail
        return detail

    bad = pull(nodes)
    bad["spec"]["models"] = [{"name": "no spaces please"}]
    assert "not a model name Ollama accepts" in await refused(bad, "spec.models[0].name")
    both = pull(nodes, nodeSelector={"matchLabels": {"zone": "zone-1"}})
    assert "not both" in await refused(both, "spec")
    assert "no node named 'ghost'" in await refused(pull([nodes[0], "ghost"]), "spec.nodes[1]")
    nobody = pull(nodeSelector={"matchLabels": {"zone": "mars"}})
    assert "selects no node (zone=mars)" in await refused(nobody, "spec.nodeSelector")
    neither = pull()
    assert "give nodes" in await refused(neither, "spec")
    keep = pull(nodes, keepAlive="5m")
    assert "load only" in await refused(keep, "spec")
    named = pull(nodes)
    named["metadata"] = {"name": "Not_A_Name"}
    await refused(named, "metadata.name")
    await refused(pull(nodes, maxConcurrent="2"), "spec.maxConcurrent")
    labelled = pull(nodes)
    labelled["metadata"] = {"labels": {"bad key!": "x"}}
    await refused(labelled, "metadata.labels")
    assert await count_rows(api, TaskRow) == 0

    # A selector that does pick nodes is accepted.
    some = pull(
        nodeSelector={"matchExpressions": [{"key": "zone", "operator": "In", "values": ["zone-1"]}]}
    )
    r = await api.client.post("/api/v1/tasks", json=some, headers=api.admin)
    assert r.status_code == 201, r.text


async def test_model_set_crud(api: Api) -> None:
    await seed(api)
    body = {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaModelSet",
        "metadata": {"name": "base"},
        "spec": {
            "models": [
                {"name": "qwen2.5:7b"},
                {"name": "llama3.2", "digest": "sha256:" + "a" * 64},
            ],
            "nodeSelector": {"matchLabels": {"zone": "zone-0"}},
            "maxConcurrentPulls": "50%",
        },
    }
    r = await api.client.post("/api/v1/modelsets", json=body, headers=api.admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["spec"]["models"][1] == {"name": "llama3.2:latest", "digest": "a" * 64}
    assert (
        await api.client.post("/api/v1/modelsets", json=body, headers=api.admin)
    ).status_code == 409

    body["spec"]["nodeSelector"] = {"matchLabels": {"zone": "zone-1"}}
    body["metadata"]["labels"] = {"tier": "gold"}
    r = await api.client.put("/api/v1/modelsets/base", json=body, headers=api.admin)
    assert r.status_code == 200, r.text
    replaced = r.json()
    # The selector is replaced, not merged.
    assert replaced["spec"]["nodeSelector"] == {"matchLabels": {"zone": "zone-1"}}
    assert replaced["metadata"]["generation"] == 2 and replaced["metadata"]["labels"] == {
        "tier": "gold"
    }
    r = await api.client.put("/api/v1/modelsets/other", json=body, headers=api.admin)
    assert r.status_code == 422 and "metadata.name" in r.json()["detail"]
    body["metadata"] = {}
    assert (
        await api.client.put("/api/v1/modelsets/other", json=body, headers=api.admin)
    ).status_code == 404

    unnamed = {"spec": {"models": [{"name": "phi3"}]}}
    r = await api.client.post("/api/v1/modelsets", json=unnamed, headers=api.admin)
    assert r.status_code == 201 and r.json()["metadata"]["name"].startswith("set-phi3-latest-")

    bad = {"spec": {"models": [{"name": "phi3"}], "maxConcurrentPulls": "150%"}}
    r = await api.client.post("/api/v1/modelsets", json=bad, headers=api.admin)
    assert r.status_code == 422 and r.json()["detail"].startswith("spec.maxConcurrentPulls")

    # No type coercion in people's bodies: 0 is not false, "2" is not 2.
    loose = {"spec": {"models": [{"name": "phi3"}], "prune": 0}}
    r = await api.client.post("/api/v1/modelsets", json=loose, headers=api.admin)
    assert r.status_code == 422 and r.json()["detail"].startswith("spec.prune"), r.text

    page = (await api.client.get("/api/v1/modelsets", params={"search": "bas"})).json()
    assert page["total"] == 1 and page["items"][0]["metadata"]["name"] == "base"
    assert (await api.client.get("/api/v1/modelsets/base")).json()["spec"][
        "maxConcurrentPulls"
    ] == "50%"
    assert (await api.client.delete("/api/v1/modelsets/base", headers=api.admin)).status_code == 204
    assert (await api.client.get("/api/v1/modelsets/base")).status_code == 404
    assert await count_rows(api, ModelSetRow) == 1


async def test_roles_and_the_audit_trail(api: Api) -> None:
    nodes = await seed(api)
    viewer = {"Authorization": f"Bearer {await api_token(api, 'viewer')}"}
    operator = {"Authorization": f"Bearer {await api_token(api, 'operator')}"}
    r = await api.client.post("/api/v1/tasks", json=pull(nodes), headers=viewer)
    assert r.status_code == 403 and "operator role" in r.json()["detail"]
    r = await api.client.post("/api/v1/tasks", json=pull(nodes), headers=operator)
    assert r.status_code == 201
    name = r.json()["metadata"]["name"]
    assert (await api.client.get(f"/api/v1/tasks/{name}", headers=viewer)).status_code == 200
    r = await api.client.put(
        f"/api/v1/nodes/{nodes[0]}/labels", json={"labels": {}}, headers=operator
    )
    assert r.status_code == 403 and "admin role" in r.json()["detail"]
    async with api.state.sessions() as session:
        actions = [
            (a.action, a.status, a.role)
            for a in (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
            if a.action in ("createTask", "putNodeLabels")
        ]
    assert actions == [
        ("createTask", 403, "viewer"),
        ("createTask", 201, "operator"),
        ("putNodeLabels", 403, "operator"),
    ]
