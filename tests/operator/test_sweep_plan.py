"""The sweep's wiring of the liveness rules over the fleet index: pure, no kopf, no server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from obt.core.liveness import LivenessConfig
from obt.operator.index import FleetIndex
from obt.operator.sweep import plan_sweep

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
CONFIG = LivenessConfig()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def onode(name: str, source: str = "daemonset", rv: int = 1, phase: str | None = None) -> dict:
    body: dict = {
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": str(rv)},
        "spec": {"source": source, "nodeName": name if source == "daemonset" else None},
    }
    if phase:
        body["status"] = {"phase": phase}
    return body


def ready(status: str) -> dict:
    return {"conditions": [{"type": "Ready", "status": status}]}


def fleet(n: int) -> FleetIndex:
    index = FleetIndex(baseline=at(0), listed=True)
    for i in range(n):
        name = f"gpu-{i}"
        index.observe_ollamanode(onode(name))
        index.observe_node({"metadata": {"name": name}, "status": ready("True")})
        index.observe_pod(
            {
                "metadata": {"name": f"agent-{i}", "namespace": "obt"},
                "spec": {"nodeName": name},
                "status": ready("True"),
            }
        )
    return index


def test_first_sweep_writes_every_node_once_then_nothing() -> None:
    index = fleet(3)
    plan = plan_sweep(index, at(100), CONFIG)
    assert sorted(c.entry.name for c in plan.changes) == ["gpu-0", "gpu-1", "gpu-2"]
    assert all(c.transition and c.verdict.phase == "Ready" for c in plan.changes)
    for change in plan.changes:  # what run_sweep does with the written object
        change.entry.phase = change.verdict.phase
        change.entry.conditions = change.conditions
    assert plan_sweep(index, at(101), CONFIG).changes == []


def test_missing_pod_is_removed_after_remove_after_from_when_we_saw_it() -> None:
    index = fleet(10)
    index.forget_pod("obt", "agent-0")
    plan = plan_sweep(index, at(100), CONFIG)  # first seen missing at 100
    assert plan.removals == []
    assert plan_sweep(index, at(159), CONFIG).removals == []
    assert [e.name for e in plan_sweep(index, at(160), CONFIG).removals] == ["gpu-0"]


def test_mass_silence_blocks_removals() -> None:
    index = fleet(5)
    for i in range(3):
        index.forget_pod("obt", f"agent-{i}")
    plan_sweep(index, at(100), CONFIG)
    plan = plan_sweep(index, at(200), CONFIG)
    assert plan.due == 3 and plan.removals == []
    assert plan.guard is not None and plan.guard.reason == "MassSilence"


def test_rate_limit_caps_removals_per_sweep() -> None:
    config = CONFIG.model_copy(update={"max_removals_per_minute": 2, "mass_silence_ratio": 1.0})
    index = fleet(10)
    for i in range(4):
        index.forget_pod("obt", f"agent-{i}")
    plan_sweep(index, at(100), config)
    assert len(plan_sweep(index, at(200), config, removals_last_minute=0).removals) == 2
    assert plan_sweep(index, at(200), config, removals_last_minute=2).removals == []


def test_standalone_held_until_a_full_window_was_watched() -> None:
    index = FleetIndex(baseline=at(0), listed=True)
    index.observe_ollamanode(onode("mac", "standalone", phase="NotReady"))
    lease = {"metadata": {"name": "obt-node-mac", "namespace": "obt"}, "spec": {"renewTime": "x"}}
    index.observe_lease(lease, at(0), initial=True)  # listed at start: not a renewal
    assert plan_sweep(index, at(10), CONFIG).changes == []  # held: neither Ready nor NotReady
    plan = plan_sweep(index, at(30), CONFIG)
    assert [c.verdict.reason for c in plan.changes] == ["LeaseExpired"]
    index.observe_lease({**lease, "spec": {"renewTime": "y"}}, at(31), initial=False)
    assert [c.verdict.phase for c in plan_sweep(index, at(32), CONFIG).changes] == ["Ready"]


def test_blind_spell_restarts_silence_clocks() -> None:
    index = FleetIndex(baseline=at(0), listed=True)
    index.observe_ollamanode(onode("mac", "standalone", phase="Ready"))
    lease = {"metadata": {"name": "obt-node-mac", "namespace": "obt"}, "spec": {"renewTime": "x"}}
    index.observe_lease(lease, at(0), initial=False)
    index.reset_clocks(at(100))  # we could not see the API server from 0 to 100
    plan = plan_sweep(index, at(101), CONFIG)
    assert plan.changes == [] and plan.removals == []
    assert plan.guard is not None and plan.guard.reason == "StartupGrace"


def test_stale_watch_event_does_not_undo_our_write() -> None:
    index = FleetIndex(baseline=at(0))
    index.observe_ollamanode(onode("gpu-0", rv=7, phase="Ready"))
    index.observe_ollamanode(onode("gpu-0", rv=5, phase="NotReady"))
    assert index.nodes["gpu-0"].phase == "Ready"


def test_leases_outside_the_namespace_or_prefix_are_ignored() -> None:
    index = FleetIndex(baseline=at(0))
    index.observe_lease({"metadata": {"name": "obt-node-a", "namespace": "other"}}, at(1), False)
    index.observe_lease({"metadata": {"name": "kubelet", "namespace": "obt"}}, at(1), False)
    assert index.leases == {}
