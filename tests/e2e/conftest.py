"""End-to-end fixtures: real processes (`obt agent`, `obt operator`, `obt api`) against a
Kubernetes API and a real PostgreSQL, with a fake Ollama on loopback.

The Kubernetes API is the in-repo test server by default. With OBT_E2E_CLUSTER=1 it is the cluster
that $KUBECONFIG names (a kind cluster from scripts/kind-e2e.sh, or any other): the `cluster`
fixture then does the test's part (install the CRD, create Nodes and pods, play the kubelet by
patching their status) with the real kubectl, and removes what it created afterwards, so the same
tests run unchanged there (`make e2e-cluster`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest

from tests.agent.fake_ollama import FakeOllama
from tests.api.conftest import pg_url  # noqa: F401  (the session's PostgreSQL server)
from tests.support.fixtures import OLLAMANODE_CRD, REPO, require_kubectl

OBT = str(REPO / ".venv" / "bin" / "obt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OllamaThread:
    """A FakeOllama on its own event loop in a thread, so processes can reach it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ollama = FakeOllama()

    def start(self) -> FakeOllama:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.ollama.start(), self.loop).result(10)
        return self.ollama

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Change the fake's state on its own loop (the server reads it there)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.ollama.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def ollama() -> Iterator[OllamaThread]:
    fake = OllamaThread()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def e2e_database(pg_url: str | None) -> str:  # noqa: F811
    """A database of its own on the session's PostgreSQL server."""
    if pg_url is None:
        pytest.skip("PostgreSQL is not available (it is required, and runs, in CI)")
    name = f"obt_e2e_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


class Processes:
    """Started processes with their logs; all stopped (by pid) at the end of the test."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        log = (self.logs / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [OBT, *args],
            env={**os.environ, "OBT_LOG__LEVEL": "INFO", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.procs[name] = proc
        return proc

    def tails(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
            for p in sorted(self.logs.glob("*.log"))
        )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}\n{self.tails()}")

    def wait_for(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                value = check()
            except (OSError, KeyError, TypeError, ValueError):
                value = None
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.tails()}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def standalone_agent_args(
    api: str, enroll_token: str, host: str, ollama_url: str, state: Path
) -> list[str]:
    """`obt agent` as a standalone host runs it (HTTP mode), quick to detect, no probe port."""
    return [
        "agent",
        "--server",
        api,
        "--enroll-token",
        enroll_token,
        "--host-id",
        host,
        "--ollama-url",
        ollama_url,
        "--interval",
        "0.5",
        "--data-dir",
        str(state),
        "--listen",
        "off",
    ]


def daemonset_agent_args(kubeconfig: Path, ollama_url: str) -> list[str]:
    """`obt agent` as the DaemonSet's pod runs it (Kubernetes mode), quick to detect."""
    return [
        "agent",
        "--kubernetes",
        "--kubeconfig",
        str(kubeconfig),
        "--ollama-url",
        ollama_url,
        "--interval",
        "0.5",
        "--listen",
        "off",
    ]


@contextmanager
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop()


class Cluster(Protocol):
    """What the end-to-end tests need of a Kubernetes API: the KubeApiServer has it all."""

    @property
    def kubeconfig(self) -> str: ...

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]: ...

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None: ...

    def set_node_ready(
        self, name: str, ready: bool = True, labels: dict[str, str] | None = None
    ) -> dict[str, Any]: ...

    def set_pod_ready(
        self,
        namespace: str,
        name: str,
        ready: bool = True,
        node_name: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]: ...


def real_cluster_requested() -> bool:
    return os.environ.get("OBT_E2E_CLUSTER", "") == "1"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(kind: str, ready: bool, reason: str) -> dict[str, str]:
    stamp = now()
    return {
        "type": kind,
        "status": "True" if ready else "False",
        "reason": reason,
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }


class KubectlCluster:
    """A real cluster through the real kubectl, playing the kubelet for the Nodes and pods the
    tests create (a Node without a kubelet: its status and its kube-node-lease Lease are renewed
    every few seconds, so the node lifecycle controller does not judge it unreachable)."""

    def __init__(self, kubectl: str, kubeconfig: Path, cache: Path) -> None:
        self.kubectl = kubectl
        self._kubeconfig = kubeconfig
        self.cache = cache
        self.created: list[tuple[str, str, str | None]] = []  # (resource, name, namespace)
        self.ready_nodes: dict[str, bool] = {}
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="e2e-kubelet", daemon=True)
        self._heartbeat.start()

    @property
    def kubeconfig(self) -> str:
        return str(self._kubeconfig)

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [self.kubectl, "--kubeconfig", self.kubeconfig, "--cache-dir", str(self.cache), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    @staticmethod
    def resource(api_version: str, kind: str) -> str:
        group = api_version.rpartition("/")[0]
        return f"{kind.lower()}.{group}" if group else kind.lower()

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(
            self.run("apply", "-o", "json", "-f", "-", stdin=json.dumps(obj))
        )
        return out

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create (or, when it exists, update) an object; only what did not exist before is
        deleted at the end, so a namespace of the cluster's own is left alone."""
        meta = {**obj["metadata"], **({"namespace": namespace} if namespace else {})}
        resource = self.resource(obj["apiVersion"], obj["kind"])
        existed = self.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        stored = self.apply({**obj, "metadata": meta})
        if existed is None:
            self.created.append((resource, meta["name"], meta.get("namespace")))
        return stored

    def ok(self, *args: str) -> bool:
        command = [self.kubectl, "--kubeconfig", self.kubeconfig, *args]
        return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        args = ["get", self.resource(api_version, kind), name, "-o", "json", "--ignore-not-found"]
        out = self.run(*args, *(["-n", namespace] if namespace else []))
        return json.loads(out) if out.strip() else None

    def patch_status(self, resource: str, name: str, namespace: str | None, status: Any) -> Any:
        args = ["patch", resource, name, "--subresource=status", "--type=merge", "-o", "json"]
        out = self.run(*args, *(["-n", namespace] if namespace else []), "-p", json.dumps(status))
        return json.loads(out)

    def set_node_ready(
        self, name: str, ready: bool = True, labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        if self.get("v1", "Node", name) is None:
            self.create(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": labels or {}},
                }
            )
        self.ready_nodes[name] = ready
        return self._node_status(name, ready)

    def _node_status(self, name: str, ready: bool) -> Any:
        reason = "KubeletReady" if ready else "NodeStatusUnknown"
        status = {"status": {"conditions": [condition("Ready", ready, reason)]}}
        return self.patch_status("node", name, None, status)

    def _beat(self) -> None:
        while not self._stop.wait(10):
            for name, ready in list(self.ready_nodes.items()):
                try:
                    self._node_status(name, ready)
                    self.apply(
                        {
                            "apiVersion": "coordination.k8s.io/v1",
                            "kind": "Lease",
                            "metadata": {"name": name, "namespace": "kube-node-lease"},
                            "spec": {
                                "holderIdentity": name,
                                "leaseDurationSeconds": 40,
                                "renewTime": now().replace("Z", ".000000Z"),
                            },
                        }
                    )
                except AssertionError:
                    pass  # the next beat tries again; the test's own checks report real failures

    def set_pod_ready(
        self,
        namespace: str,
        name: str,
        ready: bool = True,
        node_name: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if self.get("v1", "Pod", name, namespace) is None:
            spec: dict[str, Any] = {"containers": [{"name": "agent", "image": "obt:test"}]}
            if node_name:
                spec["nodeName"] = node_name
            self.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                    "spec": spec,
                }
            )
        conditions = [condition(kind, ready, "Test") for kind in ("Ready", "ContainersReady")]
        for entry in conditions:
            del entry["lastHeartbeatTime"]
        status = {"status": {"phase": "Running", "conditions": conditions}}
        stored: dict[str, Any] = self.patch_status("pod", name, namespace, status)
        return stored

    def install_crd(self) -> None:
        self.run("apply", "-f", str(OLLAMANODE_CRD))
        deadline = time.monotonic() + 60
        while not self.ok("get", "ollamanodes.obt.dev"):
            assert time.monotonic() < deadline, "the OllamaNode CRD was not served within 60 s"
            time.sleep(1)

    def cleanup(self, extra: list[tuple[str, str, str | None]]) -> None:
        """Delete what the tests made, newest first (the OllamaNodes the processes wrote too)."""
        self._stop.set()
        self._heartbeat.join(15)
        for resource, name, namespace in [*extra, *reversed(self.created)]:
            self.run(
                "delete", resource, name, "--ignore-not-found", "--wait=false",
                *(["-n", namespace] if namespace else []),
                check=False,
            )  # fmt: skip


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """The in-repo API test server, or with OBT_E2E_CLUSTER=1 the cluster $KUBECONFIG names."""
    if not real_cluster_requested():
        server: Cluster = request.getfixturevalue("kube_api")
        yield server
        return
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not kubeconfig or not Path(kubeconfig).is_file():
        pytest.fail(
            f"OBT_E2E_CLUSTER=1 needs KUBECONFIG to name one kubeconfig file (got {kubeconfig!r})"
        )
    real = KubectlCluster(require_kubectl(), Path(kubeconfig), tmp_path / "kubectl-cache")
    real.install_crd()
    started = now()
    try:
        yield real
    finally:
        onodes = json.loads(
            real.run("get", "ollamanodes.obt.dev", "-o", "json", check=False) or "{}"
        )
        made = {name for _, name, _ in real.created}
        # The OllamaNodes of the test's own Nodes, and of the standalone hosts enrolled while
        # it ran (run the suite against a cluster for tests, such as scripts/kind-e2e.sh's).
        extra = [
            ("ollamanodes.obt.dev", o["metadata"]["name"], None)
            for o in onodes.get("items", [])
            if o["metadata"]["name"] in made
            or (
                o.get("spec", {}).get("source") == "standalone"
                and o["metadata"].get("creationTimestamp", "") >= started
            )
        ]
        real.cleanup(extra)
