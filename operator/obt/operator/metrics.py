"""The operator's Prometheus metrics (served by health.py)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PHASES = ("Ready", "NotReady", "Unknown", "Pending")


class OperatorMetrics:
    """One registry per operator instance (not the global one), so tests can run several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.nodes = Gauge(
            "obt_operator_nodes", "OllamaNodes by judged phase.", ["phase"], registry=self.registry
        )
        self.transitions = Counter(
            "obt_operator_transitions",
            "Ready-status transitions written, by new phase.",
            ["phase"],
            registry=self.registry,
        )
        self.removals = Counter(
            "obt_operator_removals", "OllamaNodes removed.", registry=self.registry
        )
        self.removals_blocked = Gauge(
            "obt_operator_removals_blocked",
            "Removals due but held back by a guard in the last sweep, by guard.",
            ["guard"],
            registry=self.registry,
        )
        self.sweep_seconds = Histogram(
            "obt_operator_sweep_seconds",
            "Time of one sweep (judging and writing).",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.leader = Gauge(
            "obt_operator_leader", "1 while this replica is the leader.", registry=self.registry
        )
        self.blind = Gauge(
            "obt_operator_blind",
            "1 while this replica cannot reach the API server (it judges nothing).",
            registry=self.registry,
        )
        self.work_status_writes = Counter(
            "obt_operator_work_status_writes",
            "Status writes of OllamaTasks and OllamaModelSets, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.tasks_deleted = Counter(
            "obt_operator_tasks_deleted",
            "Finished OllamaTasks deleted after their ttlSecondsAfterFinished.",
            registry=self.registry,
        )
        self.last_sweep = time.monotonic()
