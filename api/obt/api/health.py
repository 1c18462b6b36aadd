"""/healthz (process alive), /readyz (database reachable, start-up done), /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text

from obt.api.auth.access import metrics_access, public
from obt.api.deps import StateDep
from obt.api.schemas import ApiModel
from obt.api.state import AppState

router = APIRouter(tags=["health"])


class Health(ApiModel):
    status: str


@router.get(
    "/healthz",
    operation_id="getHealth",
    response_model=Health,
    dependencies=[public("liveness probe")],
)
async def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="getReadiness",
    response_model=Health,
    responses={503: {"model": Health}},
    dependencies=[public("readiness probe")],
)
async def readyz(state: StateDep, response: Response) -> Health:
    """Start-up finished and the database answers (cluster mode: and the mirror is synced
    on the leader, or standing by on a follower)."""
    if not state.ready:
        response.status_code = 503
        return Health(status="starting")
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        response.status_code = 503
        return Health(status=f"database unreachable: {type(exc).__name__}")
    if state.mirror is not None:  # cluster mode: leader synced, or follower standing by
        ready, words = state.mirror.readiness()
        if not ready:
            response.status_code = 503
        return Health(status=words)
    return Health(status="ok")


class StateCollector:
    """Reads in-memory counters at scrape time: nothing is counted on the hot path twice."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        s = self.state
        st = s.ingest.stats
        for name, value, help_ in (
            ("obt_api_heartbeats", st.heartbeats, "Heartbeats accepted."),
            ("obt_api_reports", st.reports, "Agent reports accepted."),
            ("obt_api_reports_written", st.reports_written, "Agent reports that changed the node."),
            ("obt_api_heartbeat_flushes", st.flushes, "Batched persists of heartbeat times."),
            ("obt_api_node_writes", s.store.writes, "Committed node writes (all sources)."),
        ):
            yield CounterMetricFamily(name, help_, value=value)
        yield GaugeMetricFamily(
            "obt_api_sse_subscribers", "Open SSE streams.", value=s.bus.subscriber_count
        )
        yield GaugeMetricFamily(
            "obt_api_standalone_nodes", "Enrolled standalone nodes.", value=len(s.ingest.by_name)
        )
        if s.actions is not None:
            yield CounterMetricFamily(
                "obt_api_action_status_writes",
                "Task and model-set statuses written by the local reconciler.",
                value=s.actions.store.status_writes,
            )
            yield GaugeMetricFamily(
                "obt_api_work_generation",
                "The work generation heartbeat answers carry.",
                value=s.actions.store.work_generation,
            )
        if s.mirror is not None:
            yield from s.mirror.metrics()


@router.get(
    "/metrics",
    operation_id="getMetrics",
    response_class=Response,
    dependencies=[metrics_access()],
)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics (the viewer role when OBT_API__AUTH__METRICS_ANONYMOUS=false)."""
    if state.metrics is None:
        state.metrics = _registry(state)
    return Response(generate_latest(state.metrics), media_type=CONTENT_TYPE_LATEST)


def _registry(state: AppState) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StateCollector(state))
    return registry
