"""Everything one running API holds, created in app.py's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from obt.api.security import RateLimiter
from obt.api.settings import ApiSettings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from obt.api.actions.runtime import ActionRuntime
    from obt.api.agents.ingest import AgentIngest
    from obt.api.audit import AuditPruner
    from obt.api.auth.access import AuthRuntime
    from obt.api.cluster.runtime import ClusterRuntime
    from obt.api.cluster.standalone import StandaloneWriter
    from obt.api.events.bus import EventBus
    from obt.api.nodes.store import NodeStore


@dataclass
class AppState:
    settings: ApiSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    store: NodeStore
    ingest: AgentIngest
    auth: AuthRuntime  # access control (auth/access.py)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    ready: bool = False
    mirror: ClusterRuntime | None = None  # cluster mode: leader election + mirror
    audit_pruner: AuditPruner | None = None  # the audit trail's retention loop (audit.py)
    metrics: CollectorRegistry | None = None  # made by the first GET /metrics (health.py)
    actions: ActionRuntime | None = None  # tasks and model sets (actions/runtime.py)

    @property
    def cluster(self) -> StandaloneWriter | None:
        """Cluster mode's writer of standalone OllamaNodes and Leases (None in local mode)."""
        return self.mirror.standalone if self.mirror is not None else None
