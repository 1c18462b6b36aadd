"""Everything one running API holds, created in app.py's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from obt.api.events.bus import EventBus
from obt.api.security import RateLimiter
from obt.api.settings import ApiSettings

if TYPE_CHECKING:
    from obt.api.agents.ingest import AgentIngest
    from obt.api.cluster.runtime import ClusterRuntime
    from obt.api.nodes.store import NodeStore


@dataclass
class AppState:
    settings: ApiSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    store: NodeStore
    ingest: AgentIngest
    limiter: RateLimiter = field(default_factory=RateLimiter)
    ready: bool = False
    mirror: ClusterRuntime | None = None  # cluster mode: leader election + mirror
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def cluster(self) -> Any:
        """Cluster mode's writer of standalone OllamaNodes and Leases (None in local mode)."""
        return self.mirror.standalone if self.mirror is not None else None
