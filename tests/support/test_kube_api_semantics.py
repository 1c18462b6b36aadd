"""Server semantics at the HTTP level: patches, deletion, garbage collection, dry runs, tables,
discovery, OpenAPI, fault injection and the request log."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from tests.support.kube_api_server import KubeApiServer

ONODES = "/apis/obt.dev/v1alpha1/ollamanodes"
MERGE = {"Content-Type": "application/merge-patch+json"}


def onode(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaNode",
        "metadata": {"name": name, **meta},
        "spec": {"source": "daemonset"},
    }


@pytest.fixture
async def http(kube_api: KubeApiServer) -> Any:
    async with aiohttp.ClientSession(
        kube_api.url, headers={"User-Agent": "semantics-test"}
    ) as session:
        yield session


async def call(http: Any, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    data = json.dumps(body) if body is not None else None
    headers = kw.pop("headers", {"Content-Type": "application/json"})
    async with http.request(method, path, data=data, headers=headers, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_json_patch_failed_test_is_422_and_kopf_style_finalizer_patch(http: Any) -> None:
    code, obj = await call(http, "POST", ONODES, onode("a"))
    assert code == 201
    rv = obj["metadata"]["resourceVersion"]
    jp = {"Content-Type": "application/json-patch+json"}
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]},
    ]
    code, patched = await call(http, "PATCH", f"{ONODES}/a", ops, headers=jp)
    assert code == 200
    assert patched["metadata"]["finalizers"] == ["x/y"]
    code, status = await call(http, "PATCH", f"{ONODES}/a", ops, headers=jp)
    assert code == 422
    assert status["reason"] == "Invalid"


async def test_strategic_merge_is_415_for_custom_resources_and_merges_for_builtins(
    http: Any,
) -> None:
    await call(http, "POST", ONODES, onode("a"))
    smp = {"Content-Type": "application/strategic-merge-patch+json"}
    code, status = await call(
        http, "PATCH", f"{ONODES}/a", {"metadata": {"labels": {"a": "b"}}}, headers=smp
    )
    assert code == 415
    assert status["reason"] == "UnsupportedMediaType"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert (await call(http, "POST", "/api/v1/nodes", node))[0] == 201
    conditions = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    code, _ = await call(http, "PATCH", "/api/v1/nodes/n1/status", conditions, headers=smp)
    assert code == 200
    more = {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}]}}
    code, patched = await call(http, "PATCH", "/api/v1/nodes/n1/status", more, headers=smp)
    assert [c["type"] for c in patched["status"]["conditions"]] == ["Ready", "MemoryPressure"]


async def test_finalizers_deletion_timestamp_and_generation(http: Any) -> None:
    await call(http, "POST", ONODES, onode("a", finalizers=["obt.dev/cleanup"]))
    code, obj = await call(http, "DELETE", f"{ONODES}/a")
    assert code == 200
    assert obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["generation"] == 2
    code, status = await call(
        http,
        "PATCH",
        f"{ONODES}/a",
        {"metadata": {"finalizers": ["obt.dev/cleanup", "new"]}},
        headers=MERGE,
    )
    assert code == 422, "no new finalizers while deleting"
    assert status["details"]["causes"][0]["field"] == "metadata.finalizers"
    code, _ = await call(
        http, "PATCH", f"{ONODES}/a", {"metadata": {"finalizers": None}}, headers=MERGE
    )
    assert code == 200
    code, _ = await call(http, "GET", f"{ONODES}/a")
    assert code == 404


async def test_owner_garbage_collection_and_orphan(http: Any, kube_api: KubeApiServer) -> None:
    node = kube_api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-1"}})
    owner = [{"apiVersion": "v1", "kind": "Node", "name": "gpu-1", "uid": node["metadata"]["uid"]}]
    await call(http, "POST", ONODES, onode("gpu-1", ownerReferences=owner))
    await call(http, "POST", ONODES, onode("other"))
    code, _ = await call(http, "DELETE", "/api/v1/nodes/gpu-1")
    assert code == 200
    assert (await call(http, "GET", f"{ONODES}/gpu-1"))[0] == 404
    assert (await call(http, "GET", f"{ONODES}/other"))[0] == 200

    node = kube_api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-2"}})
    owner = [{"apiVersion": "v1", "kind": "Node", "name": "gpu-2", "uid": node["metadata"]["uid"]}]
    await call(http, "POST", ONODES, onode("gpu-2", ownerReferences=owner))
    await call(http, "DELETE", "/api/v1/nodes/gpu-2", {"propagationPolicy": "Orphan"})
    code, orphan = await call(http, "GET", f"{ONODES}/gpu-2")
    assert code == 200
    assert not orphan["metadata"].get("ownerReferences")


async def test_dry_run_generate_name_deletecollection_and_apply(
    http: Any, kube_api: KubeApiServer
) -> None:
    code, dry = await call(http, "POST", f"{ONODES}?dryRun=All", onode("dry"))
    assert code == 201
    assert dry["metadata"]["uid"], "a dry run answers what would be stored"
    assert (await call(http, "GET", f"{ONODES}/dry"))[0] == 404
    code, generated = await call(http, "POST", ONODES, onode("", generateName="gen-"))
    assert code == 201
    assert generated["metadata"]["name"].startswith("gen-")
    assert len(generated["metadata"]["name"]) == len("gen-") + 5

    apply = {"Content-Type": "application/apply-patch+yaml"}
    body = onode("applied", labels={"group": "x"})
    code, created = await call(
        http, "PATCH", f"{ONODES}/applied?fieldManager=test", body, headers=apply
    )
    assert code == 201
    assert created["metadata"]["labels"] == {"group": "x"}
    assert (await call(http, "PATCH", f"{ONODES}/applied", body, headers=apply))[0] == 422

    code, removed = await call(http, "DELETE", f"{ONODES}?labelSelector=group%3Dx")
    assert code == 200
    assert [i["metadata"]["name"] for i in removed["items"]] == ["applied"]
    code, left = await call(http, "GET", ONODES)
    assert [i["metadata"]["name"] for i in left["items"]] == [generated["metadata"]["name"]]

    code, status = await call(
        http,
        "PUT",
        f"{ONODES}/{generated['metadata']['name']}",
        onode(generated["metadata"]["name"]),
    )
    assert code == 422, "custom resources need metadata.resourceVersion on PUT"
    assert status["details"]["causes"][0]["field"] == "metadata.resourceVersion"


async def test_table_output_includes_priority_columns(http: Any, kube_api: KubeApiServer) -> None:
    await call(http, "POST", ONODES, onode("a"))
    kube_api.patch(
        "obt.dev/v1alpha1", "OllamaNode", "a", {"status": {"phase": "Ready"}}, subresource="status"
    )
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    code, table = await call(http, "GET", ONODES, headers=accept)
    assert code == 200
    assert table["kind"] == "Table"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[:3] == ["Name", "Status", "Ollama"]
    assert "Source" in names
    assert any(c["priority"] == 1 for c in table["columnDefinitions"])
    row = table["rows"][0]
    assert row["cells"][0] == "a"
    assert row["cells"][1] == "Ready"
    assert row["cells"][names.index("Source")] == "daemonset"
    assert row["object"]["kind"] == "PartialObjectMetadata"


async def test_discovery_and_openapi(http: Any) -> None:
    aggregated = {
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    }
    async with http.get("/apis", headers=aggregated) as resp:
        assert resp.content_type == "application/json"
        groups = await resp.json()
    assert groups["kind"] == "APIGroupList"
    assert "obt.dev" in [g["name"] for g in groups["groups"]]
    code, resources = await call(http, "GET", "/apis/obt.dev/v1alpha1")
    entries = {r["name"]: r for r in resources["resources"]}
    main = entries["ollamanodes"]
    assert main["shortNames"] == ["onode"]
    assert main["categories"] == ["obt"]
    assert main["singularName"] == "ollamanode"
    assert main["namespaced"] is False
    assert "watch" in main["verbs"]
    assert entries["ollamanodes/status"]["verbs"] == ["get", "patch", "update"]
    code, index = await call(http, "GET", "/openapi/v3")
    url = index["paths"]["apis/obt.dev/v1alpha1"]["serverRelativeURL"]
    code, doc = await call(http, "GET", url)
    schemas = list(doc["components"]["schemas"].values())
    assert schemas[0]["x-kubernetes-group-version-kind"][0]["kind"] == "OllamaNode"
    code, version = await call(http, "GET", "/version")
    assert code == 200
    assert version["major"] == "1"


async def test_faults_and_request_log(http: Any, kube_api: KubeApiServer) -> None:
    kube_api.faults.fail(status=500, seconds=0.3)
    assert (await call(http, "GET", ONODES))[0] == 500
    kube_api.faults.fail(status=429, seconds=0.3)
    async with http.get(ONODES) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
    await asyncio.sleep(0.35)
    assert (await call(http, "GET", ONODES))[0] == 200

    kube_api.faults.pause()
    pending = asyncio.ensure_future(call(http, "GET", ONODES))
    await asyncio.sleep(0.2)
    assert not pending.done(), "a paused server hangs requests"
    kube_api.faults.resume()
    assert (await asyncio.wait_for(pending, 5))[0] == 200

    async def watch_until_closed() -> float:
        started = time.monotonic()
        async with http.get(f"{ONODES}?watch=1&resourceVersion=0") as resp:
            async for _ in resp.content:
                pass
        return time.monotonic() - started

    watcher = asyncio.ensure_future(watch_until_closed())
    await asyncio.sleep(0.2)
    kube_api.faults.drop_watches()
    assert await asyncio.wait_for(watcher, 5) < 5

    since = time.time()
    kube_api.clear_requests()
    await call(http, "POST", ONODES, onode("w"))
    await call(http, "PATCH", f"{ONODES}/w", {"metadata": {"labels": {"a": "b"}}}, headers=MERGE)
    await call(http, "GET", f"{ONODES}/w")
    writes = kube_api.writes(
        user_agent_contains="semantics-test", resource="ollamanodes", since=since
    )
    assert [(w.verb, w.name) for w in writes] == [("create", ""), ("patch", "w")]
    assert kube_api.writes(user_agent_contains="kopf") == []
    reads = [r for r in kube_api.requests if r.verb == "get"]
    assert reads[-1].resource == "ollamanodes" and reads[-1].name == "w"
