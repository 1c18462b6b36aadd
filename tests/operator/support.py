"""Helpers for the operator tests: the test plays the kubelet and the API's heartbeat writer.

Timings are scaled down 10x for the suite (sweep 0.3 s, standalone NotReady after 3 s, removal after
6 s, blind after 1.5 s); the real defaults (30 s / 60 s, sweep 2 s) are in obt.core.liveness.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner

from tests.support.kube_api_server import KubeApiServer

NS = "obt"
AGENT_LABELS = {"app.kubernetes.io/name": "obt", "app.kubernetes.io/component": "agent"}
SWEEP = 0.3
NOT_READY_AFTER = 3.0
REMOVE_AFTER = 6.0
GRACE = 1.0
SLACK = 2.0
"""Allowance for kopf's event delivery and the shared, busy 2-core CI machine, on top of one sweep,
where a test measures on the wall clock. Silence, removal and grace bounds are measured instead on
a `ManualClock` the test moves itself (exact, whatever the load)."""

SCALED_ENV = {
    "OBT_KUBE__NAMESPACE": NS,
    "OBT_OPERATOR__LISTEN": "",
    "OBT_OPERATOR__LIVENESS__SWEEP_INTERVAL_SECONDS": str(SWEEP),
    "OBT_OPERATOR__LIVENESS__HEARTBEAT_SECONDS": "1",
    "OBT_OPERATOR__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": str(NOT_READY_AFTER),
    "OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECONDS": str(REMOVE_AFTER),
    "OBT_OPERATOR__LIVENESS__STARTUP_GRACE_SECONDS": str(GRACE),
    "OBT_OPERATOR__LIVENESS__BLIND_AFTER_SECONDS": "1.5",
    "OBT_OPERATOR__REQUEST_TIMEOUT_SECONDS": "1",
    "OBT_OPERATOR__LEADER__LEASE_DURATION_SECONDS": "3",
    "OBT_OPERATOR__LEADER__RENEW_DEADLINE_SECONDS": "2",
    "OBT_OPERATOR__LEADER__RENEW_PERIOD_SECONDS": "0.5",
    "OBT_OPERATOR__LEADER__RETRY_PERIOD_SECONDS": "0.3",
}

ONODE = ("obt.dev/v1alpha1", "OllamaNode")


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Poll until `predicate()` is truthy; return the seconds it took."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class ManualClock:
    """The operator's liveness clock, moved only by the test: "not before" and "within" bounds are
    then exact on the operator's own clock, whatever the load of the machine running the test.
    (The API-server blindness rule keeps the real monotonic clock.)"""

    def __init__(self) -> None:
        self._now = datetime.now(timezone.utc)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            assert when >= self._now, "the clock never goes back"
            self._now = when


def wait_sweeps(runtime: Any, count: int = 2, timeout: float = 20.0) -> None:
    """Wait until the operator has finished `count` more sweeps (on any machine load)."""
    for _ in range(count):
        last = runtime.metrics.last_sweep
        wait_for(lambda last=last: runtime.metrics.last_sweep != last, timeout, "a sweep")


def setup_namespace(api: KubeApiServer) -> None:
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})


def daemonset_node(api: KubeApiServer, name: str, pod_ready: bool = True) -> None:
    """A Ready Node, its agent pod, and its OllamaNode owned by the Node (as the agent writes it)."""
    node = api.set_node_ready(name, True)
    api.set_pod_ready(NS, f"agent-{name}", pod_ready, node_name=name, labels=AGENT_LABELS)
    api.create(
        {
            "apiVersion": "obt.dev/v1alpha1",
            "kind": "OllamaNode",
            "metadata": {
                "name": name,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": name,
                        "uid": node["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"source": "daemonset", "nodeName": name},
        }
    )


def standalone_node(api: KubeApiServer, name: str) -> None:
    api.create(
        {
            "apiVersion": "obt.dev/v1alpha1",
            "kind": "OllamaNode",
            "metadata": {"name": name},
            "spec": {"source": "standalone", "hostId": name},
        }
    )


def micro_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def renew_lease(api: KubeApiServer, host: str) -> None:
    """What the API does on each heartbeat of a standalone host (docs/operator.md)."""
    name = f"obt-node-{host}"
    if api.get("coordination.k8s.io/v1", "Lease", name, NS) is None:
        api.create(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": name,
                    "namespace": NS,
                    "labels": {"obt.dev/standalone-host": host},
                },
                "spec": {
                    "holderIdentity": "obt-api",
                    "leaseDurationSeconds": 30,
                    "renewTime": micro_now(),
                },
            },
            NS,
        )
    else:
        api.patch("coordination.k8s.io/v1", "Lease", name, {"spec": {"renewTime": micro_now()}}, NS)


class Heartbeats:
    """A thread renewing standalone hosts' Leases every `period` seconds until paused/stopped."""

    def __init__(self, api: KubeApiServer, hosts: list[str], period: float = 0.5) -> None:
        self.api, self.hosts, self.period = api, list(hosts), period
        self.running = threading.Event()
        self.running.set()
        self.last_renewed = time.monotonic()
        self._renewing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._renewing:
                if self.running.is_set():
                    for host in list(self.hosts):
                        renew_lease(self.api, host)
                    self.last_renewed = time.monotonic()
            self._stop.wait(self.period)

    def pause(self) -> float:
        """Stop renewing; return the monotonic time of the last renewal actually written (a round
        under way when this is called finishes first), so silence is measured from the truth."""
        self.running.clear()
        with self._renewing:
            return self.last_renewed

    def __enter__(self) -> Heartbeats:
        for host in self.hosts:
            renew_lease(self.api, host)
        self.last_renewed = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def phase(api: KubeApiServer, name: str) -> str | None:
    obj = api.get(*ONODE, name)
    return None if obj is None else (obj.get("status") or {}).get("phase")


def ready_condition(api: KubeApiServer, name: str) -> dict[str, Any]:
    obj = api.get(*ONODE, name) or {}
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), {})


def event_reasons(api: KubeApiServer, name: str | None = None) -> list[str]:
    return [
        e["reason"]
        for e in api.list_objects("v1", "Event", NS)
        if name is None or e["involvedObject"]["name"] == name
    ]


def operator_writes(
    api: KubeApiServer, since: float | None = None, who: str = "obt-operator"
) -> list[Any]:
    return api.writes(user_agent_contains=who, since=since)


def leader_of(api: KubeApiServer) -> str | None:
    lease = api.get("coordination.k8s.io/v1", "Lease", "obt-operator", NS)
    return None if lease is None else lease["spec"].get("holderIdentity")


class Operator(KopfRunner):
    runtime: Any
    """The operator's `OperatorRuntime` (index, metrics), for tests that wait on what it observed."""


@contextlib.contextmanager
def kopf_operator(
    api: KubeApiServer,
    monkeypatch: pytest.MonkeyPatch,
    identity: str = "op-test",
    clock: ManualClock | None = None,
    **env: str,
) -> Iterator[Operator]:
    """The real operator in KopfRunner's thread (`kopf run -A --standalone -m obt.operator.handlers`),
    configured like `obt operator` through OBT_* variables; it waits until the index is listed.
    `clock`: the liveness clock to build it with (default: the real one)."""
    from obt.operator import startup

    assert api.kubeconfig
    if clock is not None:
        monkeypatch.setattr(startup, "clock", clock)
    built: list[Any] = []

    class RecordedRuntime(startup.OperatorRuntime):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(startup, "OperatorRuntime", RecordedRuntime)
    for key, value in {
        **SCALED_ENV,
        "OBT_KUBE__KUBECONFIG": api.kubeconfig,
        "OBT_KUBE__IDENTITY": identity,
        **env,
    }.items():
        monkeypatch.setenv(key, value)
    settings = kopf.OperatorSettings()
    with Operator(
        ["run", "-A", "--standalone", "-m", "obt.operator.handlers"],
        timeout=60,
        settings=settings,
    ) as runner:
        wait_for(lambda: leader_of(api) == identity, 20, f"{identity} to lead")
        runner.runtime = built[-1]
        time.sleep(2 * SWEEP)  # kopf's initial lists are done within a sweep or two
        yield runner
    assert runner.exception is None, runner.output
