"""Liveness rules: pure functions that turn observed signals into a node's phase and condition.

No I/O and no clock of their own: every function takes `now`, and every time it takes was measured
on the caller's clock (the operator's or the API's), never copied from a timestamp an agent wrote.
The operator (cluster mode) and the API's local mode both call these, so a node is judged the same
way everywhere. ARCHITECTURE.md ("Liveness") explains the signals:

- DaemonSet nodes are alive while their Kubernetes Node is Ready and their agent pod is Ready; the
  kubelet and the node lifecycle controller maintain both, so the agent writes nothing to stay alive.
- Standalone hosts heartbeat to the API, which renews a Lease (cluster mode) or a database row (local
  mode); the caller records *when it saw* each renewal, and silence is measured from that moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field, model_validator

from obt.core.models import Condition

LivePhase = Literal["Ready", "NotReady", "Unknown"]

READY = "Ready"
"""The condition type these rules maintain."""

_STATUS_OF_PHASE: dict[LivePhase, Literal["True", "False", "Unknown"]] = {
    "Ready": "True",
    "NotReady": "False",
    "Unknown": "Unknown",
}


class LivenessConfig(BaseModel):
    """Timings and guards. Defaults are the project's design values (ARCHITECTURE.md)."""

    heartbeat_seconds: float = Field(
        10.0, gt=0, description="How often a standalone agent heartbeats to the API."
    )
    standalone_not_ready_after_seconds: float = Field(
        30.0,
        gt=0,
        description="A standalone host is NotReady after this long without an observed renewal (3 missed heartbeats).",
    )
    remove_after_seconds: float = Field(
        60.0,
        gt=0,
        description="An OllamaNode whose agent is gone (no agent pod on its Node, or no renewal) is removed after this long.",
    )
    startup_grace_seconds: float = Field(
        60.0,
        ge=0,
        description="No removals this long after the judge (re)starts: it has not yet seen a full removal window itself.",
    )
    sweep_interval_seconds: float = Field(
        2.0, gt=0, description="How often the operator sweeps its index and writes what changed."
    )
    mass_silence_ratio: float = Field(
        0.55,
        gt=0,
        le=1,
        description="No removals while at least this share of nodes is silent at once (a network or control-plane fault, not a fleet loss).",
    )
    mass_silence_min_nodes: int = Field(
        5,
        ge=1,
        description="The mass-silence guard applies from this many nodes up; below it one node is already a large share.",
    )
    max_removals_per_minute: int = Field(
        10, ge=1, description="At most this many OllamaNodes removed in any 60 s window."
    )
    blind_after_seconds: float = Field(
        15.0,
        gt=0,
        description="The judge counts itself blind (and judges nothing) when its last successful API call is older than this; silence while blind never counts.",
    )

    @model_validator(mode="after")
    def _removal_after_not_ready(self) -> LivenessConfig:
        if self.remove_after_seconds < self.standalone_not_ready_after_seconds:
            raise ValueError(
                f"remove_after_seconds ({self.remove_after_seconds}) must be at least "
                f"standalone_not_ready_after_seconds ({self.standalone_not_ready_after_seconds}): "
                "a node is NotReady before it is removed"
            )
        return self

    def scaled(self, factor: float) -> LivenessConfig:
        """Every timing multiplied by `factor` (tests and benchmarks run at e.g. 0.1)."""
        return self.model_copy(
            update={
                name: getattr(self, name) * factor
                for name in type(self).model_fields
                if name.endswith("_seconds")
            }
        )


@dataclass(frozen=True)
class Verdict:
    """What the rules conclude about one node at one moment."""

    phase: LivePhase
    reason: str
    """One CamelCase word, e.g. 'AgentReady', 'NodeNotReady', 'LeaseExpired'."""
    message: str
    agent_gone: bool = False
    """True when the agent that reports this node no longer exists: the removal clock runs."""

    @property
    def condition_status(self) -> Literal["True", "False", "Unknown"]:
        return _STATUS_OF_PHASE[self.phase]


def judge_daemonset(
    node_ready: bool | None,
    pod_ready: bool | None,
    pod_exists: bool,
    *,
    node_name: str = "",
    pod_name: str = "",
) -> Verdict:
    """A DaemonSet node: its Kubernetes Node's Ready condition, then its agent pod's.

    `node_ready` and `pod_ready` are the Ready conditions (None: absent or 'Unknown'). The Node is
    judged first: when the kubelet is silent, the pod's readiness is stale and says nothing.
    """
    node = f"Node {node_name!r}" if node_name else "The Node"
    if not pod_exists:
        where = f"Node {node_name!r}" if node_name else "its Node"
        return Verdict(
            "NotReady", "AgentPodMissing", f"No agent pod runs on {where}.", agent_gone=True
        )
    pod = f"agent pod {pod_name!r}" if pod_name else "the agent pod"
    if node_ready is None:
        return Verdict(
            "Unknown", "NodeStatusUnknown", f"{node} has not reported its status recently."
        )
    if not node_ready:
        return Verdict("NotReady", "NodeNotReady", f"{node} is not Ready.")
    if pod_ready is None:
        return Verdict("Unknown", "AgentStatusUnknown", f"The readiness of {pod} is unknown.")
    if not pod_ready:
        return Verdict(
            "NotReady",
            "AgentNotReady",
            f"{pod[0].upper()}{pod[1:]} is not Ready (its detection loop or its writes are failing).",
        )
    return Verdict("Ready", "AgentReady", f"{pod[0].upper()}{pod[1:]} and its Node are Ready.")


def judge_standalone(
    last_renewal_observed_at: datetime | None,
    now: datetime,
    config: LivenessConfig | None = None,
) -> Verdict:
    """A standalone host: how long since the caller *observed* its heartbeat renewal change.

    `last_renewal_observed_at` is on the caller's clock. A caller that has just started (or has just
    regained contact with its API server) passes its own start time for hosts it has not seen renew
    yet, so its own blindness never counts as the host's silence.
    """
    config = config or LivenessConfig()
    if last_renewal_observed_at is None:
        return Verdict(
            "Unknown", "NoHeartbeat", "No heartbeat from this host has been observed yet."
        )
    silent = (now - last_renewal_observed_at).total_seconds()
    if silent < config.standalone_not_ready_after_seconds:
        return Verdict("Ready", "HeartbeatRenewed", "The host's agent heartbeats on time.")
    # The message must not change while the silence goes on (no counting seconds): a changed
    # message is a write, and silence must cost no writes.
    return Verdict(
        "NotReady",
        "LeaseExpired",
        f"No heartbeat observed for {config.standalone_not_ready_after_seconds:g}s or more.",
        agent_gone=True,
    )


def removal_due(
    silent_since: datetime | None,
    now: datetime,
    config: LivenessConfig | None = None,
) -> bool:
    """True when an agent has been gone (on the caller's clock) for `remove_after_seconds`."""
    config = config or LivenessConfig()
    if silent_since is None:
        return False
    return (now - silent_since).total_seconds() >= config.remove_after_seconds


@dataclass(frozen=True)
class RemovalGuard:
    allowed: bool
    reason: str
    """'Allowed', 'StartupGrace', 'MassSilence' or 'RateLimited'."""
    message: str


def removals_allowed(
    silent_count: int,
    total: int,
    since_start: timedelta,
    removals_last_minute: int = 0,
    config: LivenessConfig | None = None,
) -> RemovalGuard:
    """May the judge remove anything right now? The guards, in order of precedence.

    `silent_count` counts the nodes not Ready (whether or not their removal is due), `total` all
    nodes, `since_start` the time since the judge started judging (or regained contact).
    """
    config = config or LivenessConfig()
    if since_start.total_seconds() < config.startup_grace_seconds:
        return RemovalGuard(
            False,
            "StartupGrace",
            f"Started {since_start.total_seconds():.0f}s ago; no removals during the first "
            f"{config.startup_grace_seconds:g}s.",
        )
    if total >= config.mass_silence_min_nodes and silent_count / total >= config.mass_silence_ratio:
        return RemovalGuard(
            False,
            "MassSilence",
            f"{silent_count} of {total} nodes are silent at once "
            f"(>= {config.mass_silence_ratio:.0%}): suspecting a network or control-plane fault, "
            "removing nothing.",
        )
    if removals_last_minute >= config.max_removals_per_minute:
        return RemovalGuard(
            False,
            "RateLimited",
            f"{removals_last_minute} removals in the last minute "
            f"(limit {config.max_removals_per_minute}).",
        )
    return RemovalGuard(True, "Allowed", "")


def next_condition(
    previous: list[Condition], verdict: Verdict, now: datetime
) -> list[Condition] | None:
    """The conditions after applying `verdict`, or None when nothing would change.

    Only the Ready condition is touched; others are kept. `lastTransitionTime` moves only when the
    status changes (a new reason or message under the same status keeps it), as Kubernetes does.
    """
    status = verdict.condition_status
    current = next((c for c in previous if c.type == READY), None)
    if (
        current is not None
        and current.status == status
        and current.reason == verdict.reason
        and current.message == verdict.message
    ):
        return None
    transition = (
        current.last_transition_time if current is not None and current.status == status else now
    )
    ready = Condition(
        type=READY,
        status=status,
        reason=verdict.reason,
        message=verdict.message,
        last_transition_time=transition,
    )
    result = [c for c in previous if c.type != READY]
    result.insert(0, ready)
    return result


def is_transition(previous: list[Condition], verdict: Verdict) -> bool:
    """True when `verdict` changes the Ready status (what deserves an Event), not just its wording."""
    current = next((c for c in previous if c.type == READY), None)
    return current is None or current.status != verdict.condition_status


def status_update(
    previous: list[Condition], phase: str | None, verdict: Verdict, now: datetime
) -> list[Condition] | None:
    """The conditions to write for `verdict`, or None when neither they nor the phase change.

    `previous` and `phase` are what is stored now. A changed phase under unchanged conditions
    still needs a write (of the same conditions)."""
    conditions = next_condition(previous, verdict, now)
    if conditions is None and phase == verdict.phase:
        return None
    return conditions if conditions is not None else previous


K = TypeVar("K")


@dataclass(frozen=True)
class Judged(Generic[K]):
    """One node's verdict in a round, and since when its agent has been gone (None: it is not)."""

    key: K
    verdict: Verdict
    silent_since: datetime | None = None


@dataclass
class RemovalPlan(Generic[K]):
    """Which judged nodes a round removes, and why the others that are due stay."""

    guard: RemovalGuard
    due: list[K] = field(default_factory=list)
    """Nodes whose agent has been gone for `remove_after_seconds`."""
    removals: list[K] = field(default_factory=list)
    """The due nodes the guards let go this round (at most the rate limit's room)."""
    silent: int = 0
    """Judged nodes not Ready (the mass-silence guard's count)."""

    @property
    def blocked(self) -> int:
        return len(self.due) - len(self.removals)


def plan_removals(
    judged: Iterable[Judged[K]],
    total: int,
    since_start: timedelta,
    now: datetime,
    removals_last_minute: int = 0,
    config: LivenessConfig | None = None,
) -> RemovalPlan[K]:
    """Judge -> guard -> rate-limited removal, the sequence the operator's sweep and the API's local
    mode both run. `total` counts every node (judged or held), `since_start` the time since the
    judge started (or regained contact), `removals_last_minute` what `RemovalWindow` counts."""
    config = config or LivenessConfig()
    silent = 0
    due: list[K] = []
    for item in judged:
        if item.verdict.phase != "Ready":
            silent += 1
        if item.verdict.agent_gone and removal_due(item.silent_since, now, config):
            due.append(item.key)
    guard = removals_allowed(silent, total, since_start, removals_last_minute, config)
    plan: RemovalPlan[K] = RemovalPlan(guard, due, silent=silent)
    if due and guard.allowed:
        plan.removals = due[: max(0, config.max_removals_per_minute - removals_last_minute)]
    return plan


class RemovalWindow:
    """The removals of the last minute, on the caller's clock (the rate limit's memory)."""

    WINDOW = timedelta(minutes=1)

    def __init__(self) -> None:
        self._times: list[datetime] = []

    def count(self, now: datetime) -> int:
        """Removals within the minute before `now` (older ones are forgotten)."""
        self._times = [t for t in self._times if now - t < self.WINDOW]
        return len(self._times)

    def record(self, now: datetime) -> None:
        self._times.append(now)
