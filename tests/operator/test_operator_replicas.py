"""Two operator replicas as real processes (`python -m obt.operator`): one leader writes; when it is
killed (SIGKILL, no clean hand-over) the other takes over within 20 s, with the real default Lease
timings (duration 15 s, follower retry 2 s). Liveness timings are scaled as elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.operator.support import (
    NS,
    SCALED_ENV,
    daemonset_node,
    leader_of,
    operator_writes,
    phase,
    setup_namespace,
    wait_for,
)
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.slow

DEFAULT_LEASE = {k: v for k, v in SCALED_ENV.items() if not k.startswith("OBT_OPERATOR__LEADER__")}


@pytest.fixture
def spawn(
    kube_api: KubeApiServer, tmp_path: Path
) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Start `python -m obt.operator --identity NAME` processes; stop the survivors afterwards."""
    assert kube_api.kubeconfig
    started: dict[str, subprocess.Popen[bytes]] = {}

    def start(identity: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, **DEFAULT_LEASE, "OBT_KUBE__KUBECONFIG": kube_api.kubeconfig or ""}
        log = (tmp_path / f"{identity}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "obt.operator", "--identity", identity, "--listen", ""],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started[identity] = proc
        return proc

    yield start
    for proc in started.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_only_the_leader_writes_and_the_other_takes_over(
    kube_api: KubeApiServer, spawn: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    setup_namespace(kube_api)
    daemonset_node(kube_api, "gpu-1")
    first = spawn("op-a")
    wait_for(lambda: leader_of(kube_api) == "op-a", 30, "op-a to lead")
    spawn("op-b")
    wait_for(lambda: phase(kube_api, "gpu-1") == "Ready", 15, "Ready")
    time.sleep(2)  # op-b has started and watches too

    kube_api.set_pod_ready(NS, "agent-gpu-1", False)
    wait_for(lambda: phase(kube_api, "gpu-1") == "NotReady", 10, "NotReady")
    kube_api.set_pod_ready(NS, "agent-gpu-1", True)
    wait_for(lambda: phase(kube_api, "gpu-1") == "Ready", 10, "Ready again")
    assert operator_writes(kube_api, who="op-a")
    assert operator_writes(kube_api, who="op-b") == []  # the follower only reads

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_at = time.time()
    took = wait_for(lambda: leader_of(kube_api) == "op-b", 25, "op-b to take over")
    assert took < 20, f"takeover took {took:.1f}s"

    kube_api.set_pod_ready(NS, "agent-gpu-1", False)
    wait_for(lambda: phase(kube_api, "gpu-1") == "NotReady", 10, "NotReady by op-b")
    status_writes = [
        w
        for w in operator_writes(kube_api, since=killed_at, who="op-b")
        if w.resource == "ollamanodes"
    ]
    assert status_writes and all(w.subresource == "status" for w in status_writes)
    print(f"takeover after SIGKILL of the leader: {took:.1f}s")
