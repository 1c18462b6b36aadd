"""Fault tests: the API server hangs, most of the fleet goes silent at once, the operator restarts.

Timings scaled 10x down (tests/operator/support.py): a 45 s hang is 4.5 s here; we also run a hang
longer than the removal delay, where counting our own blindness as silence would remove nodes.
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
    Heartbeats,
    ManualClock,
    daemonset_node,
    event_reasons,
    kopf_operator,
    operator_writes,
    phase,
    setup_namespace,
    standalone_node,
    wait_for,
    wait_sweeps,
)
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("hang", [4.5, REMOVE_AFTER + 2], ids=["45s-scaled", "longer-than-removal"])
def test_api_server_hang_is_not_node_silence(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch, hang: float
) -> None:
    setup_namespace(kube_api)
    for name in ("gpu-1", "gpu-2"):
        daemonset_node(kube_api, name)
    hosts = ["mac-1", "win-1"]
    for host in hosts:
        standalone_node(kube_api, host)
    names = ["gpu-1", "gpu-2", *hosts]
    with Heartbeats(kube_api, hosts) as beats, kopf_operator(kube_api, monkeypatch):
        wait_for(lambda: all(phase(kube_api, n) == "Ready" for n in names), 5, "all Ready")
        # The API server hangs; the API cannot renew heartbeat Leases meanwhile either.
        beats.pause()
        kube_api.faults.pause()
        time.sleep(hang)
        kube_api.faults.resume()
        # Agents heartbeat every 10 s (1 s scaled): renewals come back up to a period after the API.
        time.sleep(1.0)
        beats.running.set()
        # Once renewals resume nothing stays NotReady, and nothing is removed, even a full removal
        # delay later.
        wait_for(lambda: all(phase(kube_api, n) == "Ready" for n in names), 10, "all Ready again")
        time.sleep(REMOVE_AFTER + 1)
        assert all(kube_api.get(*ONODE, n) is not None for n in names)
        assert all(phase(kube_api, n) == "Ready" for n in names)
        assert not [w for w in operator_writes(kube_api) if w.verb == "delete"]
        assert "Removed" not in event_reasons(kube_api)


def test_mass_silence_removes_nothing_and_warns(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_namespace(kube_api)
    names = [f"gpu-{i}" for i in range(5)]
    for name in names:
        daemonset_node(kube_api, name)
    with kopf_operator(kube_api, monkeypatch):
        wait_for(lambda: all(phase(kube_api, n) == "Ready" for n in names), 5, "all Ready")
        for name in names[:3]:  # 60 % of the fleet loses its agent at once
            kube_api.delete("v1", "Pod", f"agent-{name}", NS)
        wait_for(
            lambda: "MassSilence" in event_reasons(kube_api), REMOVE_AFTER + 5, "MassSilence Event"
        )
        time.sleep(SWEEP * 5)
        assert all(kube_api.get(*ONODE, n) is not None for n in names)
        assert [phase(kube_api, n) for n in names] == ["NotReady"] * 3 + ["Ready"] * 2
        warning = next(
            e for e in kube_api.list_objects("v1", "Event", NS) if e["reason"] == "MassSilence"
        )
        assert warning["type"] == "Warning"
        assert "3 of 5" in warning["message"]
        assert event_reasons(kube_api).count("MassSilence") == 1  # once, not once per sweep


def test_restart_respects_startup_grace(
    kube_api: KubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_namespace(kube_api)
    daemonset_node(kube_api, "gpu-1")
    with kopf_operator(kube_api, monkeypatch, identity="op-first"):
        wait_for(lambda: phase(kube_api, "gpu-1") == "Ready", 5, "Ready")
        kube_api.delete("v1", "Pod", "agent-gpu-1", NS)
        wait_for(lambda: phase(kube_api, "gpu-1") == "NotReady", 5, "NotReady")
        time.sleep(REMOVE_AFTER - 2)  # stop shortly before the removal would be due
    assert kube_api.get(*ONODE, "gpu-1") is not None
    grace = REMOVE_AFTER + 3
    # The new operator's liveness clock moves only when the test moves it: the grace bounds are
    # exact on it, however busy the machine is.
    clock = ManualClock()
    with kopf_operator(
        kube_api,
        monkeypatch,
        identity="op-second",
        clock=clock,
        OBT_OPERATOR__LIVENESS__STARTUP_GRACE_SECONDS=str(grace),
    ) as operator:
        started = operator.runtime.index.baseline
        # The agent pod has been gone for longer than REMOVE_AFTER by now, but the new operator has
        # not watched that itself: nothing is removed during its grace ...
        clock.set(started + timedelta(seconds=grace - 0.1))
        wait_sweeps(operator.runtime)
        assert kube_api.get(*ONODE, "gpu-1") is not None
        # ... and the removal comes right after it.
        clock.set(started + timedelta(seconds=grace))
        wait_for(lambda: kube_api.get(*ONODE, "gpu-1") is None, 20, "removed after grace")
