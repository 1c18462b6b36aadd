"""Conformance through the real kubernetes_asyncio client: the behaviour our mirror and agent use."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "obt.dev", "v1alpha1", "ollamanodes"
MERGE = "application/merge-patch+json"


def onode(
    name: str, labels: dict[str, str] | None = None, source: str = "daemonset"
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OllamaNode",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"source": source, "nodeName": name},
    }


def status_body(phase: str) -> dict[str, Any]:
    return {"status": {"phase": phase}}


async def test_create_is_201_and_duplicate_is_409_already_exists(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    _, code, _ = await api.create_cluster_custom_object_with_http_info(
        GROUP, VERSION, PLURAL, onode("n1")
    )
    assert code == 201
    with pytest.raises(ApiException) as err:
        await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("n1"))
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as missing:
        await api.get_cluster_custom_object(GROUP, VERSION, PLURAL, "nope")
    assert missing.value.status == 404


async def test_stale_update_is_409_conflict(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    created = await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("n1"))
    fresh = dict(created, metadata={**created["metadata"], "labels": {"a": "1"}})
    updated = await api.replace_cluster_custom_object(GROUP, VERSION, PLURAL, "n1", fresh)
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    stale = dict(created, metadata={**created["metadata"], "labels": {"a": "2"}})
    with pytest.raises(ApiException) as err:
        await api.replace_cluster_custom_object(GROUP, VERSION, PLURAL, "n1", stale)
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "Conflict"


async def test_status_subresource_isolation_and_generation(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    body = onode("n1")
    body["status"] = {"phase": "Ready"}
    created = await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
    assert "status" not in created, "status is dropped on create when /status exists"
    assert created["metadata"]["generation"] == 1

    after_status = await api.patch_cluster_custom_object_status(
        GROUP,
        VERSION,
        PLURAL,
        "n1",
        {"status": {"phase": "Ready"}, "spec": {"source": "standalone"}},
        _content_type=MERGE,
    )
    assert after_status["status"]["phase"] == "Ready"
    assert after_status["spec"]["source"] == "daemonset", "/status must not change spec"
    assert after_status["metadata"]["generation"] == 1, "status writes keep generation"

    main = await api.patch_cluster_custom_object(
        GROUP,
        VERSION,
        PLURAL,
        "n1",
        {"status": {"phase": "NotReady"}, "metadata": {"labels": {"x": "y"}}},
        _content_type=MERGE,
    )
    assert main["status"]["phase"] == "Ready", "the main endpoint ignores .status"
    assert main["metadata"]["labels"] == {"x": "y"}
    assert main["metadata"]["generation"] == 1, "metadata changes keep generation"

    spec_change = await api.patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, "n1", {"spec": {"source": "standalone"}}, _content_type=MERGE
    )
    assert spec_change["metadata"]["generation"] == 2

    same = await api.patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, "n1", {"spec": {"source": "standalone"}}, _content_type=MERGE
    )
    assert same["metadata"]["resourceVersion"] == spec_change["metadata"]["resourceVersion"], (
        "a no-op write is not stored"
    )


async def test_schema_is_enforced_with_field_path(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    bad = onode("n1", source="carrier-pigeon")
    with pytest.raises(ApiException) as err:
        await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, bad)
    status = json.loads(err.value.body)
    assert err.value.status == 422
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.source"


async def test_label_and_field_selectors(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    await api.create_cluster_custom_object(
        GROUP, VERSION, PLURAL, onode("a", {"tier": "gpu", "zone": "1"})
    )
    await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("b", {"tier": "cpu"}))
    await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("c", {}))

    async def names(**kwargs: Any) -> list[str]:
        listed = await api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kwargs)
        assert listed["kind"] == "OllamaNodeList"
        assert listed["apiVersion"] == f"{GROUP}/{VERSION}"
        return [i["metadata"]["name"] for i in listed["items"]]

    assert await names(label_selector="tier=gpu") == ["a"]
    assert await names(label_selector="tier==cpu") == ["b"]
    assert await names(label_selector="tier!=gpu") == ["b", "c"]
    assert await names(label_selector="tier in (gpu,cpu)") == ["a", "b"]
    assert await names(label_selector="tier notin (gpu)") == ["b", "c"]
    assert await names(label_selector="tier") == ["a", "b"]
    assert await names(label_selector="!tier") == ["c"]
    assert await names(label_selector="tier,zone=1") == ["a"]
    assert await names(field_selector="metadata.name=b") == ["b"]
    assert await names(field_selector="metadata.name!=b") == ["a", "c"]
    with pytest.raises(ApiException) as err:
        await names(field_selector="spec.source=daemonset")
    assert err.value.status == 400


async def test_pagination_with_limit_and_continue(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    for n in range(5):
        await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode(f"n{n}"))
    first = await api.list_cluster_custom_object(GROUP, VERSION, PLURAL, limit=2)
    assert [i["metadata"]["name"] for i in first["items"]] == ["n0", "n1"]
    assert first["metadata"]["remainingItemCount"] == 3
    rest = await api.list_cluster_custom_object(
        GROUP, VERSION, PLURAL, limit=10, _continue=first["metadata"]["continue"]
    )
    assert [i["metadata"]["name"] for i in rest["items"]] == ["n2", "n3", "n4"]
    assert "continue" not in rest["metadata"]


async def _collect(stream: Any, count: int) -> list[dict[str, Any]]:
    events = []
    async for event in stream:
        events.append(event)
        if len(events) >= count:
            break
    return events


async def test_watch_from_resource_version_replays_later_events(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("old"))
    listed = await api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    rv = listed["metadata"]["resourceVersion"]
    await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("new"))
    await api.patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, "new", {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE
    )
    await api.delete_cluster_custom_object(GROUP, VERSION, PLURAL, "new")
    w = watch.Watch()
    stream = w.stream(
        api.list_cluster_custom_object,
        GROUP,
        VERSION,
        PLURAL,
        resource_version=rv,
        timeout_seconds=2,
    )
    events = await asyncio.wait_for(_collect(stream, 3), 5)
    w.stop()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "new"),
        ("MODIFIED", "new"),
        ("DELETED", "new"),
    ]
    assert events[2]["object"]["metadata"]["labels"] == {"a": "b"}, (
        "DELETED carries the final object"
    )


async def test_watch_from_zero_starts_with_synthetic_added(kube_client: Any, kube_api: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("a", {"k": "v"}))
    await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("b"))
    w = watch.Watch()
    stream = w.stream(
        api.list_cluster_custom_object,
        GROUP,
        VERSION,
        PLURAL,
        label_selector="k=v",
        timeout_seconds=2,
    )
    events = await asyncio.wait_for(_collect(stream, 1), 5)
    w.stop()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]
    watches = [r for r in kube_api.requests if r.verb == "watch"]
    assert watches
    assert "watch=True" in watches[-1].query, "kubernetes_asyncio sends watch=True"


async def test_bookmarks_carry_the_current_resource_version(
    kube_client: Any, kube_api: Any
) -> None:
    kube_api.bookmark_interval = 0.2
    api = client.CustomObjectsApi(kube_client)
    created = await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("a"))
    w = watch.Watch()
    stream = w.stream(
        api.list_cluster_custom_object,
        GROUP,
        VERSION,
        PLURAL,
        resource_version=created["metadata"]["resourceVersion"],
        allow_watch_bookmarks=True,
        timeout_seconds=3,
    )
    events = await asyncio.wait_for(_collect(stream, 1), 5)
    w.stop()
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["raw_object"]["metadata"]["resourceVersion"] == str(kube_api.store.rv)


async def test_expired_history_gives_410_then_relist_works(kube_client: Any, kube_api: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("a"))
    listed = await api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    old_rv = listed["metadata"]["resourceVersion"]
    kube_api.faults.expire_history()

    w = watch.Watch()
    stream = w.stream(
        api.list_cluster_custom_object,
        GROUP,
        VERSION,
        PLURAL,
        resource_version=old_rv,
        timeout_seconds=2,
    )
    with pytest.raises(ApiException) as err:
        await asyncio.wait_for(_collect(stream, 1), 5)
    assert err.value.status == 410

    relisted = await api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    new_rv = relisted["metadata"]["resourceVersion"]
    assert int(new_rv) > int(old_rv)
    await api.create_cluster_custom_object(GROUP, VERSION, PLURAL, onode("b"))
    w2 = watch.Watch()
    stream = w2.stream(
        api.list_cluster_custom_object,
        GROUP,
        VERSION,
        PLURAL,
        resource_version=new_rv,
        timeout_seconds=2,
    )
    events = await asyncio.wait_for(_collect(stream, 1), 5)
    w2.stop()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b")]


async def test_leases_events_nodes_and_pods(kube_client: Any, kube_api: Any) -> None:
    coordination = client.CoordinationV1Api(kube_client)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="host-a", namespace="default"),
        spec=client.V1LeaseSpec(holder_identity="host-a", lease_duration_seconds=30),
    )
    created = await coordination.create_namespaced_lease("default", lease)
    assert created.spec.holder_identity == "host-a"

    core = client.CoreV1Api(kube_client)
    kube_api.set_node_ready("gpu-1", True)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="obt-system")))
    kube_api.set_pod_ready("obt-system", "agent-x", True, node_name="gpu-1")
    node = await core.read_node("gpu-1")
    assert [(c.type, c.status) for c in node.status.conditions] == [("Ready", "True")]
    kube_api.set_node_ready("gpu-1", False)
    node = await core.read_node_status("gpu-1")
    assert node.status.conditions[0].status == "False"

    pods = await core.list_namespaced_pod("obt-system", field_selector="spec.nodeName=gpu-1")
    assert [p.metadata.name for p in pods.items] == ["agent-x"]
    ready = {c.type: c.status for c in pods.items[0].status.conditions}
    assert ready["Ready"] == "True"

    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="gpu-1.", namespace="default"),
        involved_object=client.V1ObjectReference(kind="Node", name="gpu-1"),
        reason="Test",
        message="hello",
        type="Normal",
    )
    posted = await core.create_namespaced_event("default", event)
    assert posted.metadata.name.startswith("gpu-1.")
    found = await core.list_namespaced_event("default", field_selector="involvedObject.name=gpu-1")
    assert [e.reason for e in found.items] == ["Test"]
