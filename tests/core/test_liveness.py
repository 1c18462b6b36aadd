"""The pure liveness rules (obt.core.liveness): no cluster, no clock but the one passed in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from obt.core.liveness import (
    Judged,
    LivenessConfig,
    RemovalWindow,
    Verdict,
    is_transition,
    judge_daemonset,
    judge_standalone,
    next_condition,
    plan_removals,
    removal_due,
    removals_allowed,
    status_update,
)
from obt.core.models import Condition

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
CONFIG = LivenessConfig()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_defaults_are_the_documented_design_values() -> None:
    assert CONFIG.heartbeat_seconds == 10
    assert CONFIG.standalone_not_ready_after_seconds == 30
    assert CONFIG.remove_after_seconds == 60
    assert CONFIG.mass_silence_ratio == 0.55


def test_scaled_multiplies_timings_only() -> None:
    fast = CONFIG.scaled(0.1)
    assert fast.standalone_not_ready_after_seconds == pytest.approx(3)
    assert fast.remove_after_seconds == pytest.approx(6)
    assert fast.mass_silence_ratio == CONFIG.mass_silence_ratio
    assert fast.max_removals_per_minute == CONFIG.max_removals_per_minute


def test_removal_before_not_ready_is_refused() -> None:
    with pytest.raises(ValidationError, match="remove_after_seconds"):
        LivenessConfig(standalone_not_ready_after_seconds=30, remove_after_seconds=10)


@pytest.mark.parametrize(
    ("node_ready", "pod_ready", "pod_exists", "phase", "reason", "gone"),
    [
        (True, True, True, "Ready", "AgentReady", False),
        (True, False, True, "NotReady", "AgentNotReady", False),
        (False, True, True, "NotReady", "NodeNotReady", False),
        (False, False, True, "NotReady", "NodeNotReady", False),
        (None, True, True, "Unknown", "NodeStatusUnknown", False),
        (True, None, True, "Unknown", "AgentStatusUnknown", False),
        (True, None, False, "NotReady", "AgentPodMissing", True),
        (False, None, False, "NotReady", "AgentPodMissing", True),
    ],
)
def test_judge_daemonset(
    node_ready: bool | None,
    pod_ready: bool | None,
    pod_exists: bool,
    phase: str,
    reason: str,
    gone: bool,
) -> None:
    verdict = judge_daemonset(node_ready, pod_ready, pod_exists, node_name="gpu-1", pod_name="a")
    assert (verdict.phase, verdict.reason, verdict.agent_gone) == (phase, reason, gone)
    assert verdict.message


def test_judge_standalone_by_observed_renewal() -> None:
    assert judge_standalone(None, at(0)).phase == "Unknown"
    assert judge_standalone(at(0), at(29.9)).phase == "Ready"
    late = judge_standalone(at(0), at(30))
    assert (late.phase, late.reason, late.agent_gone) == ("NotReady", "LeaseExpired", True)


def test_standalone_message_does_not_change_while_silence_goes_on() -> None:
    # A changing message would be a status write every sweep.
    assert judge_standalone(at(0), at(31)) == judge_standalone(at(0), at(59))


def test_removal_due_after_remove_after() -> None:
    assert not removal_due(None, at(1000))
    assert not removal_due(at(0), at(59.9))
    assert removal_due(at(0), at(60))
    assert removal_due(at(0), at(6), CONFIG.scaled(0.1))


def test_guard_startup_grace_first() -> None:
    guard = removals_allowed(1, 100, timedelta(seconds=10))
    assert (guard.allowed, guard.reason) == (False, "StartupGrace")
    assert removals_allowed(1, 100, timedelta(seconds=60)).allowed


def test_guard_mass_silence() -> None:
    since = timedelta(minutes=10)
    assert removals_allowed(54, 100, since).allowed
    guard = removals_allowed(55, 100, since)
    assert (guard.allowed, guard.reason) == (False, "MassSilence")
    assert "55 of 100" in guard.message
    assert not removals_allowed(3, 5, since).allowed  # 60 %


def test_guard_mass_silence_needs_a_fleet() -> None:
    # One silent node out of one is not a control-plane fault.
    assert removals_allowed(1, 1, timedelta(minutes=10)).allowed
    assert removals_allowed(3, 4, timedelta(minutes=10)).allowed


def test_guard_rate_limit() -> None:
    since = timedelta(minutes=10)
    assert removals_allowed(1, 100, since, removals_last_minute=9).allowed
    guard = removals_allowed(1, 100, since, removals_last_minute=10)
    assert (guard.allowed, guard.reason) == (False, "RateLimited")


def ready(status: str, reason: str, message: str, t: datetime) -> Condition:
    return Condition.model_validate(
        {
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": t,
        }
    )


def test_next_condition_first_judgement() -> None:
    verdict = Verdict("Ready", "AgentReady", "fine")
    result = next_condition([], verdict, at(5))
    assert result is not None
    assert [(c.type, c.status, c.reason, c.last_transition_time) for c in result] == [
        ("Ready", "True", "AgentReady", at(5))
    ]
    assert is_transition([], verdict)


def test_next_condition_none_when_nothing_changes() -> None:
    previous = [ready("True", "AgentReady", "fine", at(0))]
    assert next_condition(previous, Verdict("Ready", "AgentReady", "fine"), at(99)) is None
    assert not is_transition(previous, Verdict("Ready", "AgentReady", "fine"))


def test_next_condition_keeps_transition_time_when_status_unchanged() -> None:
    previous = [ready("False", "AgentNotReady", "pod", at(0))]
    result = next_condition(previous, Verdict("NotReady", "NodeNotReady", "node"), at(50))
    assert result is not None
    assert (result[0].reason, result[0].last_transition_time) == ("NodeNotReady", at(0))
    assert not is_transition(previous, Verdict("NotReady", "NodeNotReady", "node"))


def test_next_condition_moves_transition_time_on_status_change_and_keeps_others() -> None:
    other = Condition.model_validate(
        {"type": "OllamaReachable", "status": "True", "reason": "Ok", "lastTransitionTime": at(0)}
    )
    previous = [other, ready("True", "AgentReady", "fine", at(0))]
    verdict = Verdict("NotReady", "AgentNotReady", "pod")
    result = next_condition(previous, verdict, at(42))
    assert result is not None
    assert [c.type for c in result] == ["Ready", "OllamaReachable"]
    assert (result[0].status, result[0].last_transition_time) == ("False", at(42))
    assert result[1] == other
    assert is_transition(previous, verdict)


# The shared plan: judge -> guard -> rate-limited removal (operator sweep and API local mode).


def test_plan_removals_takes_only_due_nodes_within_the_rate_limit() -> None:
    config = CONFIG.model_copy(update={"max_removals_per_minute": 2, "mass_silence_ratio": 1.0})
    gone = judge_standalone(at(0), at(100), config)
    ready = judge_standalone(at(99), at(100), config)
    judged = [
        Judged("a", gone, at(0)),  # silent 100 s: due
        Judged("b", gone, at(0)),
        Judged("c", gone, at(0)),
        Judged("d", gone, at(50)),  # silent 50 s: NotReady, not due yet
        Judged("e", ready),
    ]
    plan = plan_removals(judged, 5, timedelta(seconds=100), at(100), 0, config)
    assert plan.guard.allowed and plan.silent == 4
    assert plan.due == ["a", "b", "c"] and plan.removals == ["a", "b"] and plan.blocked == 1
    # One removal already in the last minute leaves room for one.
    assert plan_removals(judged, 5, timedelta(seconds=100), at(100), 1, config).removals == ["a"]


def test_plan_removals_guards_hold_everything() -> None:
    gone = judge_standalone(at(0), at(100))
    judged = [Judged(name, gone, at(0)) for name in "abcde"]
    in_grace = plan_removals(judged, 5, timedelta(seconds=10), at(100))
    assert in_grace.guard.reason == "StartupGrace" and in_grace.removals == []
    mass = plan_removals(judged, 5, timedelta(seconds=100), at(100))
    assert mass.guard.reason == "MassSilence" and mass.due == list("abcde")
    assert mass.removals == []


def test_removal_window_counts_the_last_minute_on_the_callers_clock() -> None:
    window = RemovalWindow()
    window.record(at(0))
    window.record(at(30))
    assert window.count(at(59)) == 2
    assert window.count(at(60)) == 1  # the first is a minute old
    assert window.count(at(91)) == 0


def test_status_update_writes_only_what_changed() -> None:
    verdict = judge_standalone(at(0), at(1))
    conditions = status_update([], None, verdict, at(1))
    assert conditions is not None and conditions[0].reason == "HeartbeatRenewed"
    assert status_update(conditions, "Ready", verdict, at(2)) is None
    # Same conditions, phase out of step: write the conditions as they are.
    assert status_update(conditions, "NotReady", verdict, at(2)) == conditions
