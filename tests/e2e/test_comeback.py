"""A host that comes back comes back by itself (issue 11, must show 1).

A real `obt agent` (standalone HTTP mode, fake Ollama) is frozen with SIGSTOP past the removal
timeout, so that the server removes its node, then resumed with SIGCONT: without a restart of the
agent, its next heartbeat is asked for the full report and the node is listed again, with its
models. Once in local mode (`obt api` on SQLite, the API judges liveness from
OBT_API__LIVENESS__*) and once in cluster mode (`obt api` + `obt operator` against the Kubernetes
API test server; the operator removes the OllamaNode, the API deletes the host's Lease).
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    OllamaThread,
    Processes,
    free_port,
    processes,
    standalone_agent_args,
)
from tests.e2e.test_cluster_fleet import ADMIN, NS, OPERATOR_ENV, get_json, post_json
from tests.support.kube_api_server import KubeApiServer

HOST = "gaming-pc"
# Generous bounds for a busy 2-core machine; the real figures are a few seconds.
REMOVAL_WAIT = 90.0
COMEBACK_WAIT = 60.0
HEARTBEAT = "1"  # seconds between the agent's heartbeats


def node_or_none(api: str, name: str) -> dict[str, Any] | None:
    try:
        node: dict[str, Any] = get_json(f"{api}/api/v1/nodes/{name}")
    except OSError:  # urllib's HTTPError (404) is an OSError
        return None
    return node


def removed(api: str, name: str) -> dict[str, Any] | None:
    return next((r for r in get_json(f"{api}/api/v1/nodes/-/removed") if r["name"] == name), None)


def start_agent(procs: Processes, api: str, token: str, ollama: OllamaThread, state: Path) -> int:
    proc = procs.start(
        "agent",
        standalone_agent_args(api, token, HOST, ollama.ollama.url, state),
        {"OBT_AGENT__HEARTBEAT_INTERVAL_SECONDS": HEARTBEAT},
    )
    return proc.pid


def freeze_until_removed(procs: Processes, pid: int, api: str, gone: Any) -> dict[str, Any]:
    """SIGSTOP the agent, wait until the server removed its node, return the tombstone."""
    os.kill(pid, signal.SIGSTOP)
    try:
        tomb: dict[str, Any] = procs.wait_for(
            lambda: node_or_none(api, HOST) is None and gone() and removed(api, HOST),
            REMOVAL_WAIT,
            "the frozen host removed",
        )
    except BaseException:
        os.kill(pid, signal.SIGCONT)
        raise
    return tomb


def resume_and_wait(procs: Processes, pid: int, api: str, models: int) -> float:
    """SIGCONT the agent; seconds until it is listed again with its models."""
    os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    procs.wait_for(
        lambda: (n := node_or_none(api, HOST)) and n["modelCount"] == models,
        COMEBACK_WAIT,
        "the resumed host listed again with its models",
    )
    return time.monotonic() - resumed


def assert_not_restarted(procs: Processes, pid: int, logs: Path) -> None:
    agent = procs.procs["agent"]
    assert agent.pid == pid and agent.poll() is None, "the agent was never restarted"
    text = (logs / "agent.log").read_text()
    assert text.count("enrolled as") == 1, text[-2000:]
    # The agent never re-sends a report the server acknowledged unless a heartbeat answers
    # reportNeeded: the same digest accepted twice is the server asking after the removal.
    digests = re.findall(r"http: report ([0-9a-f]{12}) accepted", text)
    assert len(digests) >= 2 and len(set(digests)) < len(digests), text[-2000:]


@pytest.mark.slow
def test_local_mode_host_comes_back_after_sigstop(ollama: OllamaThread, tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with processes(tmp_path) as procs:
        procs.start(
            "api",
            ["api", "--host", "127.0.0.1", "--port", str(port)],
            {
                "OBT_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}",
                "OBT_API__ADMIN_TOKEN": ADMIN,
                "OBT_API__AUTH__ANONYMOUS_READ": "true",  # the checks read without a token
                "OBT_API__HEARTBEAT_FLUSH_SECONDS": "0.5",
                "OBT_API__LIVENESS__SWEEP_INTERVAL_SECONDS": "0.3",
                "OBT_API__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": "3",
                "OBT_API__LIVENESS__REMOVE_AFTER_SECONDS": "5",
                "OBT_API__LIVENESS__STARTUP_GRACE_SECONDS": "0",
            },
        )
        procs.wait_for(lambda: get_json(f"{api}/readyz"), 30, "API ready")
        token = post_json(
            f"{api}/api/v1/enrollment-tokens", {"description": "e2e", "ttlSeconds": 600}, ADMIN
        )["token"]
        pid = start_agent(procs, api, token, ollama, tmp_path / "agent-state")
        node = procs.wait_for(
            lambda: (n := node_or_none(api, HOST)) and n["phase"] == "Ready" and n,
            60,
            "the host listed",
        )
        models = node["modelCount"]
        assert models >= 1

        tomb = freeze_until_removed(procs, pid, api, lambda: True)
        assert tomb["reason"] == "AgentGone" and tomb["lastSeenAt"] is not None
        assert len(tomb["models"]) == models

        took = resume_and_wait(procs, pid, api, models)
        assert removed(api, HOST) is None
        assert_not_restarted(procs, pid, tmp_path)
        print(f"local mode: listed again {took:.1f}s after SIGCONT")


@pytest.mark.slow
@pytest.mark.postgres
def test_cluster_mode_host_comes_back_after_sigstop(
    kube_api: KubeApiServer, e2e_database: str, ollama: OllamaThread, tmp_path: Path
) -> None:
    kubeconfig = Path(kube_api.kubeconfig)
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    kube = {"OBT_KUBE__KUBECONFIG": str(kubeconfig)}
    operator_env = {
        **OPERATOR_ENV,
        "OBT_OPERATOR__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": "3",
        "OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECONDS": "5",
    }

    def lease() -> dict[str, Any] | None:
        return kube_api.get("coordination.k8s.io/v1", "Lease", f"obt-node-{HOST}", NS)

    def onode() -> dict[str, Any] | None:
        return kube_api.get("obt.dev/v1alpha1", "OllamaNode", HOST)

    with processes(tmp_path) as procs:
        procs.start(
            "api",
            ["api", "--host", "127.0.0.1", "--port", str(port)],
            {
                **kube,
                "OBT_DATABASE__URL": e2e_database,
                "OBT_API__CLUSTER__ENABLED": "true",
                "OBT_KUBE__NAMESPACE": NS,
                "OBT_API__CLUSTER__LEADER_LEASE_SECONDS": "3",
                "OBT_API__CLUSTER__LEASE_RENEW_MIN_SECONDS": "0.5",
                "OBT_API__ADMIN_TOKEN": ADMIN,
                "OBT_API__AUTH__ANONYMOUS_READ": "true",  # the checks read without a token
            },
        )
        procs.start("operator", ["operator"], {**kube, **operator_env})
        procs.wait_for(lambda: get_json(f"{api}/readyz"), 30, "API ready")
        token = post_json(
            f"{api}/api/v1/enrollment-tokens", {"description": "e2e", "ttlSeconds": 600}, ADMIN
        )["token"]
        pid = start_agent(procs, api, token, ollama, tmp_path / "agent-state")
        node = procs.wait_for(
            lambda: (n := node_or_none(api, HOST)) and n["phase"] == "Ready" and n,
            60,
            "the host Ready through the operator and the mirror",
        )
        models = node["modelCount"]
        assert models >= 1 and lease() is not None

        # Frozen: the operator removes the OllamaNode, the API mirrors it and deletes the Lease.
        tomb = freeze_until_removed(procs, pid, api, lambda: onode() is None and lease() is None)
        assert tomb["reason"] == "AgentGone" and tomb["source"] == "standalone"
        assert len(tomb["models"]) == models

        # Resumed: listed again with its models; a fresh OllamaNode and Lease.
        took = resume_and_wait(procs, pid, api, models)
        assert onode() is not None
        procs.wait_for(lease, 30, "a fresh Lease")
        procs.wait_for(
            lambda: (n := node_or_none(api, HOST)) and n["phase"] == "Ready", 30, "Ready again"
        )
        assert_not_restarted(procs, pid, tmp_path)
        print(f"cluster mode: listed again {took:.1f}s after SIGCONT")
