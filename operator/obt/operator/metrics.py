"""Prometheus metrics and /healthz, served on `listen` (default :8882) with aiohttp."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from obt.operator.liveness import SweepPlan

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
        self.last_sweep = time.monotonic()

    def observe_plan(self, plan: SweepPlan) -> None:
        for phase in PHASES:
            self.nodes.labels(phase).set(plan.phases.get(phase, 0))
        blocked = plan.due - len(plan.removals)
        guard = plan.guard.reason if plan.guard is not None else "Allowed"
        self.removals_blocked.clear()
        if blocked:
            self.removals_blocked.labels(guard).set(blocked)


def health_app(metrics: OperatorMetrics, status: Any, stale_after: float) -> web.Application:
    """`status()` returns a dict for /healthz; the operator is unhealthy when its sweep loop stalls
    (not when the API server is down: restarting us would not bring it back)."""

    async def healthz(_: web.Request) -> web.Response:
        age = time.monotonic() - metrics.last_sweep
        body = {**status(), "last_sweep_seconds_ago": round(age, 3)}
        return web.json_response(body, status=200 if age < stale_after else 503)

    async def serve_metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", serve_metrics)
    return app
