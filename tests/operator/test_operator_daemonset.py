"""The operator (KopfRunner, real kopf) against the API test server, for DaemonSet nodes.

The test plays the kubelet: it flips Node and agent-pod readiness and deletes pods and Nodes.
Timings are scaled 10x down (tests/operator/support.py); "one sweep" is 0.3 s, plus SLACK for
kopf's delivery on a busy machine.
"""

from __future__ import annotations

import time

import pytest

from tests.operator.support import (
    NS,
    ONODE,
    REMOVE_AFTER,
    SLACK,
    SWEEP,
    daemonset_node,
    event_reasons,
    kopf_operator,
    operator_writes,
    phase,
    ready_condition,
    setup_namespace,
    wait_for,
)
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.slow


def test_daemonset_liveness_end_to_end(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_namespace(kube_api)
    daemonset_node(kube_api, "gpu-1")
    daemonset_node(kube_api, "gpu-2")
    with kopf_operator(kube_api, monkeypatch):
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

        # Agent pod NotReady -> NotReady within one sweep.
        kube_api.set_pod_ready(NS, "agent-gpu-1", False)
        took = wait_for(lambda: phase(kube_api, "gpu-1") == "NotReady", 5, "gpu-1 NotReady")
        assert took <= SWEEP + SLACK
        assert ready_condition(kube_api, "gpu-1")["reason"] == "AgentNotReady"
        kube_api.set_pod_ready(NS, "agent-gpu-1", True)
        wait_for(lambda: phase(kube_api, "gpu-1") == "Ready", 5, "gpu-1 Ready again")

        # Its Node NotReady -> NotReady within one sweep.
        kube_api.set_node_ready("gpu-1", False)
        took = wait_for(lambda: phase(kube_api, "gpu-1") == "NotReady", 5, "gpu-1 NotReady")
        assert took <= SWEEP + SLACK
        assert ready_condition(kube_api, "gpu-1")["reason"] == "NodeNotReady"
        kube_api.set_node_ready("gpu-1", True)
        wait_for(lambda: phase(kube_api, "gpu-1") == "Ready", 5, "gpu-1 Ready again")

        # Agent pod gone -> NotReady at once, removed after REMOVE_AFTER (not before).
        kube_api.delete("v1", "Pod", "agent-gpu-1", NS)
        gone_at = time.monotonic()
        wait_for(
            lambda: ready_condition(kube_api, "gpu-1").get("reason") == "AgentPodMissing",
            5,
            "AgentPodMissing",
        )
        wait_for(lambda: kube_api.get(*ONODE, "gpu-1") is None, REMOVE_AFTER + 5, "gpu-1 removed")
        removed_after = time.monotonic() - gone_at
        assert REMOVE_AFTER <= removed_after <= REMOVE_AFTER + SWEEP + SLACK

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
