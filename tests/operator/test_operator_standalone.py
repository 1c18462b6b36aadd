"""Standalone hosts: liveness from when the operator *observed* each heartbeat Lease change.

The test plays the API (it renews `obt-node-<host>` Leases as the API does for heartbeats).
Timings scaled 10x down: NotReady after 3 s, removed after 6 s, sweep 0.3 s.
"""

from __future__ import annotations

import time

import pytest

from tests.operator.support import (
    NOT_READY_AFTER,
    ONODE,
    REMOVE_AFTER,
    SLACK,
    SWEEP,
    Heartbeats,
    event_reasons,
    kopf_operator,
    phase,
    ready_condition,
    setup_namespace,
    standalone_node,
    wait_for,
)
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.slow


def test_standalone_lease_silence(kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_namespace(kube_api)
    standalone_node(kube_api, "mac-studio")
    with Heartbeats(kube_api, ["mac-studio"]) as beats, kopf_operator(kube_api, monkeypatch):
        wait_for(lambda: phase(kube_api, "mac-studio") == "Ready", 5, "Ready")
        assert ready_condition(kube_api, "mac-studio")["reason"] == "HeartbeatRenewed"

        # Renewals stop -> NotReady after NOT_READY_AFTER, within one sweep (not before).
        # Measured from the last renewal written: the operator's clock starts when it observes
        # that renewal, which is never earlier.
        stopped = beats.pause()
        wait_for(
            lambda: phase(kube_api, "mac-studio") == "NotReady", NOT_READY_AFTER + 5, "NotReady"
        )
        not_ready_after = time.monotonic() - stopped
        assert NOT_READY_AFTER <= not_ready_after <= NOT_READY_AFTER + SWEEP + SLACK
        assert ready_condition(kube_api, "mac-studio")["reason"] == "LeaseExpired"

        # ... and removed after REMOVE_AFTER without a renewal.
        wait_for(lambda: kube_api.get(*ONODE, "mac-studio") is None, REMOVE_AFTER + 5, "removed")
        removed_after = time.monotonic() - stopped
        assert REMOVE_AFTER <= removed_after <= REMOVE_AFTER + SWEEP + SLACK

        # The removal's Event is posted after the delete: on a loaded machine it lands a moment
        # after the object is gone.
        wait_for(lambda: "Removed" in event_reasons(kube_api, "mac-studio"), 5, "Removed Event")
        reasons = event_reasons(kube_api, "mac-studio")
        for reason in ("HeartbeatRenewed", "LeaseExpired", "Removed"):
            assert reason in reasons, reasons


def test_standalone_recovers_when_renewals_resume(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_namespace(kube_api)
    standalone_node(kube_api, "win-pc")
    with Heartbeats(kube_api, ["win-pc"]) as beats, kopf_operator(kube_api, monkeypatch):
        wait_for(lambda: phase(kube_api, "win-pc") == "Ready", 5, "Ready")
        beats.pause()
        wait_for(lambda: phase(kube_api, "win-pc") == "NotReady", NOT_READY_AFTER + 5, "NotReady")
        beats.running.set()
        took = wait_for(lambda: phase(kube_api, "win-pc") == "Ready", 5, "Ready again")
        assert took <= 0.5 + SWEEP + SLACK  # one heartbeat period + one sweep
        time.sleep(REMOVE_AFTER - NOT_READY_AFTER + 1)
        assert phase(kube_api, "win-pc") == "Ready"
