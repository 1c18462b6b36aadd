"""obt.core.kube.KubeClient, the project's one Kubernetes client, against the test API server:
404 and failures as ApiError, retries where asked for, and the `last_ok` clock the operator's
blindness rule reads."""

from __future__ import annotations

import socket

import pytest

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
