"""obt.core.kube.KubeClient, the project's one Kubernetes client, against the test API server:
404 and failures as ApiError, retries where asked for, and the `last_ok` clock the operator's
blindness rule reads."""

from __future__ import annotations

import asyncio
import socket

import pytest

from obt.core.crd import build_crd
from obt.core.kinds import find
from obt.core.kube import ApiError, KubeClient, KubeConfig, kubeconfig_config
from tests.support.kube_api_server import KubeApiServer

NODES = "/api/v1/nodes"


def fail_first(count: int):
    """A Faults filter failing the first `count` requests to /api/v1/nodes."""
    seen: list[object] = []

    def when(record) -> bool:
        if not record.path.startswith(NODES):
            return False
        seen.append(record)
        return len(seen) <= count

    return when


async def test_not_found_is_an_api_error(kube_api: KubeApiServer) -> None:
    async with KubeClient(kubeconfig_config(kube_api.kubeconfig)) as kube:
        with pytest.raises(ApiError) as error:
            await kube.get_node("no-such-node")
    assert error.value.not_found and error.value.status == 404


async def test_retries_only_when_asked(kube_api: KubeApiServer) -> None:
    kube_api.set_node_ready("gpu-1", True)
    config = kubeconfig_config(kube_api.kubeconfig)
    async with KubeClient(config, retries=2) as kube:
        kube_api.faults.fail(503, seconds=60, when=fail_first(2))
        node = await kube.request("GET", f"{NODES}/gpu-1")  # two 503s, then the answer
        assert node["metadata"]["name"] == "gpu-1"
        kube_api.faults.fail(503, seconds=60, when=fail_first(1))
        with pytest.raises(ApiError) as error:
            await kube.request("GET", f"{NODES}/gpu-1", retries=0)
        assert error.value.status == 503


async def test_last_ok_counts_any_answer_not_silence(kube_api: KubeApiServer) -> None:
    async with KubeClient(kubeconfig_config(kube_api.kubeconfig)) as kube:
        before = kube.last_ok
        with pytest.raises(ApiError):
            await kube.get_node("no-such-node")
        assert kube.last_ok > before  # a 404 is an answer: the server is in sight
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with KubeClient(KubeConfig(server=f"http://127.0.0.1:{port}"), timeout=2.0) as kube:
        before = kube.last_ok
        with pytest.raises(ApiError) as error:
            await kube.get_node("gpu-1")
        assert error.value.status == 0 and kube.last_ok == before


# Lists and watches ----------------------------------------------------------------------------

GROUP, VERSION, PLURAL = "obt.dev", "v1alpha1", "ollamanodes"


def ollamanode(name: str, **labels: str) -> dict:
    return {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaNode",
        "metadata": {"name": name, "labels": labels},
        "spec": {"source": "standalone"},
    }


async def next_event(events, kinds=("ADDED", "MODIFIED", "DELETED", "RELISTED")):
    while True:
        kind, obj = await asyncio.wait_for(events.__anext__(), 20)
        if kind in kinds:
            return kind, obj


async def test_list_custom_with_a_label_selector(kube_api: KubeApiServer) -> None:
    kube_api.create(ollamanode("a", team="x"))
    kube_api.create(ollamanode("b", team="y"))
    async with KubeClient(kubeconfig_config(kube_api.kubeconfig)) as kube:
        listed = await kube.list_custom(GROUP, VERSION, PLURAL)
        assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["a", "b"]
        assert listed["metadata"]["resourceVersion"]
        only = await kube.list_custom(GROUP, VERSION, PLURAL, label_selector="team=y")
        assert [i["metadata"]["name"] for i in only["items"]] == ["b"]


async def test_watch_lists_then_streams_changes(kube_api: KubeApiServer) -> None:
    kube_api.create(ollamanode("a"))
    async with KubeClient(kubeconfig_config(kube_api.kubeconfig)) as kube:
        events = kube.watch_custom(GROUP, VERSION, PLURAL, timeout_seconds=60)
        kind, listed = await next_event(events)
        assert kind == "RELISTED" and [i["metadata"]["name"] for i in listed["items"]] == ["a"]
        kube_api.create(ollamanode("b"))
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "b")
        kube_api.patch("obt.dev/v1alpha1", "OllamaNode", "b", {"metadata": {"labels": {"x": "1"}}})
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["labels"]) == ("MODIFIED", {"x": "1"})
        kube_api.delete("obt.dev/v1alpha1", "OllamaNode", "a")
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("DELETED", "a")
        await events.aclose()


async def test_watch_resumes_after_a_dropped_stream_and_relists_after_410(
    kube_api: KubeApiServer,
) -> None:
    async with KubeClient(kubeconfig_config(kube_api.kubeconfig)) as kube:
        events = kube.watch_custom(GROUP, VERSION, PLURAL, timeout_seconds=60)
        assert (await next_event(events))[0] == "RELISTED"
        kube_api.create(ollamanode("a"))
        assert (await next_event(events))[0] == "ADDED"
        # The server ends the stream: the next watch starts from the last resourceVersion,
        # so the change made meanwhile arrives once, without a relist.
        kube_api.faults.drop_watches()
        kube_api.create(ollamanode("b"))
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "b")
        # History compacted: resuming answers 410, so the watch lists again.
        kube_api.faults.expire_history()
        kube_api.create(ollamanode("c"))
        kind, listed = await next_event(events)
        assert kind == "RELISTED"
        assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["a", "b", "c"]
        kube_api.delete("obt.dev/v1alpha1", "OllamaNode", "a")
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("DELETED", "a")
        await events.aclose()


async def test_watch_follows_bookmarks_and_server_timeouts(kube_api: KubeApiServer) -> None:
    kube_api.bookmark_interval = 0.2
    async with KubeClient(kubeconfig_config(kube_api.kubeconfig)) as kube:
        events = kube.watch_custom(GROUP, VERSION, PLURAL, timeout_seconds=1)
        assert (await next_event(events))[0] == "RELISTED"
        kube_api.create(ollamanode("a"))
        assert (await next_event(events))[0] == "ADDED"
        await asyncio.sleep(1.5)  # the server ends the 1 s watch; the client watches again
        kube_api.create(ollamanode("b"))
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "b")
        watches = [r for r in kube_api.requests if r.verb == "watch"]
        lists = [r for r in kube_api.requests if r.verb == "list"]
        assert len(watches) >= 2 and len(lists) == 1
        assert all("resourceVersion=" in r.query for r in watches)
        await events.aclose()


async def test_watch_failures_are_reported_and_retried(kube_api: KubeApiServer) -> None:
    errors: list[ApiError] = []
    async with KubeClient(kubeconfig_config(kube_api.kubeconfig)) as kube:
        events = kube.watch_custom(GROUP, VERSION, "ollamatasks", on_error=errors.append)
        task = asyncio.ensure_future(next_event(events))
        for _ in range(100):  # the CRD is not installed: 404, retried
            if errors:
                break
            await asyncio.sleep(0.05)
        assert errors and errors[0].status == 404
        kube_api.apply_crd(build_crd(find("ollamatask")))  # installed: the watch lists
        kind, listed = await task
        assert kind == "RELISTED" and listed["items"] == []
        await events.aclose()
