"""Standalone hosts: liveness from when the operator *observed* each heartbeat Lease change.

The test plays the API (it renews `obt-node-<host>` Leases as the API does for heartbeats).
Timings scaled 10x down: NotReady after 3 s, removed after 6 s, sweep 0.3 s.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from tests.operator.support import (
    NOT_READY_AFTER,
    NS,
    ONODE,
    REMOVE_AFTER,
    SLACK,
    SWEEP,
    Heartbeats,
    ManualClock,
    event_reasons,
    kopf_operator,
    phase,
    ready_condition,
    setup_namespace,
    standalone_node,
    wait_for,
    wait_sweeps,
)
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.slow


def test_standalone_lease_silence(kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_namespace(kube_api)
    standalone_node(kube_api, "mac-studio")
    # The operator's liveness clock stands still unless the test moves it: the bounds below are
    # exact on that clock, however busy the machine is.
    clock = ManualClock()
    with (
        Heartbeats(kube_api, ["mac-studio"]) as beats,
        kopf_operator(kube_api, monkeypatch, clock=clock) as operator,
    ):
        wait_for(lambda: phase(kube_api, "mac-studio") == "Ready", 5, "Ready")
        assert ready_condition(kube_api, "mac-studio")["reason"] == "HeartbeatRenewed"

        # Renewals stop. Silence counts from when the operator observed the last renewal.
        beats.pause()
        lease = kube_api.get("coordination.k8s.io/v1", "Lease", "obt-node-mac-studio", NS)
        assert lease is not None
        last_renewal = lease["spec"]["renewTime"]
        leases = operator.runtime.index.leases
        wait_for(
            lambda: leases["mac-studio"].renew_time == last_renewal,
            20,
            "the operator to observe the last renewal",
        )
        observed = leases["mac-studio"].observed_at
        assert observed is not None

        # Not NotReady before NOT_READY_AFTER ...
        clock.set(observed + timedelta(seconds=NOT_READY_AFTER - 0.1))
        wait_sweeps(operator.runtime)
        assert phase(kube_api, "mac-studio") == "Ready"
        # ... and NotReady within the first sweep at NOT_READY_AFTER.
        clock.set(observed + timedelta(seconds=NOT_READY_AFTER))
        wait_for(lambda: phase(kube_api, "mac-studio") == "NotReady", 20, "NotReady")
        condition = ready_condition(kube_api, "mac-studio")
        assert condition["reason"] == "LeaseExpired"
        transition = datetime.fromisoformat(condition["lastTransitionTime"].replace("Z", "+00:00"))
        assert abs(transition - clock()) < timedelta(seconds=1)

        # Not removed before REMOVE_AFTER without a renewal, removed at it.
        clock.set(observed + timedelta(seconds=REMOVE_AFTER - 0.1))
        wait_sweeps(operator.runtime)
        assert kube_api.get(*ONODE, "mac-studio") is not None
        clock.set(observed + timedelta(seconds=REMOVE_AFTER))
        wait_for(lambda: kube_api.get(*ONODE, "mac-studio") is None, 20, "removed")

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
