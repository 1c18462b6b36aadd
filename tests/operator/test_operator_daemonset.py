"""The operator (KopfRunner, real kopf) against the API test server, for DaemonSet nodes.

The test plays the kubelet: it flips Node and agent-pod readiness and deletes pods and Nodes.
Timings are scaled 10x down (tests/operator/support.py). The operator's liveness clock is one the
test moves itself, and "within one sweep" is counted in the operator's sweeps, so no bound here
depends on how busy the machine is.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.operator.support import (
    NS,
    ONODE,
    REMOVE_AFTER,
    SWEEP,
    ManualClock,
    daemonset_node,
    event_reasons,
    kopf_operator,
    operator_writes,
    phase,
    ready_condition,
    setup_namespace,
    wait_for,
    wait_sweeps,
)
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.slow


def test_daemonset_liveness_end_to_end(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_namespace(kube_api)
    daemonset_node(kube_api, "gpu-1")
    daemonset_node(kube_api, "gpu-2")
    clock = ManualClock()
    with kopf_operator(kube_api, monkeypatch, clock=clock) as operator:
        index = operator.runtime.index
        # Agent pod Ready on a Ready Node -> Ready, with reason and an Event.
        wait_for(lambda: phase(kube_api, "gpu-1") == "Ready", 5, "gpu-1 Ready")
        wait_for(lambda: phase(kube_api, "gpu-2") == "Ready", 5, "gpu-2 Ready")
        assert ready_condition(kube_api, "gpu-1")["reason"] == "AgentReady"
        # Events are posted after the status write: wait for both before counting quiet writes.
        wait_for(
            lambda: all("AgentReady" in event_reasons(kube_api, n) for n in ("gpu-1", "gpu-2")),
            5,
            "AgentReady Events",
        )

        # Nothing changes -> the operator writes nothing (20 sweeps): no status, no Event.
        quiet_from = time.time()
        time.sleep(20 * SWEEP)
        quiet = [w for w in operator_writes(kube_api, since=quiet_from) if w.resource != "leases"]
        assert quiet == [], [(w.verb, w.resource, w.name) for w in quiet]

        # Agent pod NotReady -> NotReady within the first sweep after the operator sees it.
        kube_api.set_pod_ready(NS, "agent-gpu-1", False)
        wait_for(
            lambda: getattr(index.agent_pod("gpu-1"), "ready", None) is False,
            20,
            "the operator to see the pod NotReady",
        )
        wait_sweeps(operator.runtime)
        assert phase(kube_api, "gpu-1") == "NotReady"
        assert ready_condition(kube_api, "gpu-1")["reason"] == "AgentNotReady"
        kube_api.set_pod_ready(NS, "agent-gpu-1", True)
        wait_for(lambda: phase(kube_api, "gpu-1") == "Ready", 5, "gpu-1 Ready again")

        # Its Node NotReady -> NotReady within the first sweep after the operator sees it.
        kube_api.set_node_ready("gpu-1", False)
        wait_for(lambda: index.node_ready.get("gpu-1") is False, 20, "the operator to see the Node")
        wait_sweeps(operator.runtime)
        assert phase(kube_api, "gpu-1") == "NotReady"
        assert ready_condition(kube_api, "gpu-1")["reason"] == "NodeNotReady"
        kube_api.set_node_ready("gpu-1", True)
        wait_for(lambda: phase(kube_api, "gpu-1") == "Ready", 5, "gpu-1 Ready again")

        # Agent pod gone -> NotReady at once, removed after REMOVE_AFTER (not before).
        kube_api.delete("v1", "Pod", "agent-gpu-1", NS)
        wait_for(
            lambda: ready_condition(kube_api, "gpu-1").get("reason") == "AgentPodMissing",
            20,
            "AgentPodMissing",
        )
        gone_at = index.missing_since["gpu-1"]  # the operator's clock when it saw the pod gone
        clock.set(gone_at + timedelta(seconds=REMOVE_AFTER - 0.1))
        wait_sweeps(operator.runtime)
        assert kube_api.get(*ONODE, "gpu-1") is not None
        clock.set(gone_at + timedelta(seconds=REMOVE_AFTER))
        wait_for(lambda: kube_api.get(*ONODE, "gpu-1") is None, 20, "gpu-1 removed")

        # Node deleted -> its OllamaNode is garbage-collected through the ownerReference.
        kube_api.delete("v1", "Node", "gpu-2")
        wait_for(lambda: kube_api.get(*ONODE, "gpu-2") is None, 5, "gpu-2 collected")

        # An Event for each transition and the removal (the removal's Event is posted after the
        # delete, so on a loaded machine it may land a moment later).
        wait_for(lambda: "Removed" in event_reasons(kube_api, "gpu-1"), 5, "Removed Event")
        reasons = event_reasons(kube_api, "gpu-1")
        for reason in ("AgentReady", "AgentNotReady", "NodeNotReady", "AgentPodMissing", "Removed"):
            assert reason in reasons, reasons
        # The operator deleted only gpu-1; gpu-2 went by garbage collection.
        deletes = [w.name for w in operator_writes(kube_api) if w.verb == "delete"]
        assert deletes == ["gpu-1"]
