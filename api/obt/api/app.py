"""create_app(settings): the FastAPI application for both modes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from obt.api import errors
from obt.api.actions.reconciler import LocalReconciler
from obt.api.actions.router import router as actions_router
from obt.api.actions.runtime import ActionRuntime
from obt.api.actions.service import ClusterBackend, LocalBackend
from obt.api.actions.store import ActionStore
from obt.api.actions.work import labels_router
from obt.api.actions.work import router as work_router
from obt.api.agents.fastpath import HeartbeatFastPath
from obt.api.agents.heartbeat import HEARTBEAT_PATH
from obt.api.agents.ingest import AgentIngest
from obt.api.agents.router import router as agents_router
from obt.api.audit import AuditMiddleware, AuditPruner
from obt.api.audit import router as audit_router
from obt.api.auth.access import AuthRuntime, collect_roles, document_roles
from obt.api.auth.router import router as auth_router
from obt.api.catalogue.router import router as catalogue_router
from obt.api.db.engine import is_sqlite, make_engine, make_sessionmaker, migrate
from obt.api.events.bus import EventBus, PgListener, asyncpg_dsn
from obt.api.events.router import router as events_router
from obt.api.fleet.router import router as fleet_router
from obt.api.headers import SecurityHeaders, inline_hashes
from obt.api.health import router as health_router
from obt.api.nodes.router import router as nodes_router
from obt.api.nodes.store import NodeStore
from obt.api.security import GuardMiddleware, RateLimiter
from obt.api.settings import ApiSettings
from obt.api.state import AppState
from obt.core.liveness import LivenessConfig
from obt.core.version import __version__

log = logging.getLogger(__name__)

StartupHook = Callable[[AppState], Awaitable[Callable[[], Awaitable[None]] | None]]


class _ObtApi(FastAPI):
    """FastAPI with a dispatcher in front of it: `POST /api/v1/agents/{name}/heartbeat` goes to
    `heartbeat` (the guard, then agents/fastpath.py) without passing through the layers
    FastAPI puts around every application (error middleware, its body-limit and telemetry
    layers, the exception middleware); everything else takes the full stack. The documented
    route in agents/router.py stays for OpenAPI and answers alike."""

    heartbeat: SecurityHeaders | None = None
    roles: dict[str, str] = {}

    def openapi(self) -> dict[str, Any]:
        """The document, with each operation's declared role (auth/access.py)."""
        return document_roles(super().openapi(), self.roles)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.heartbeat is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and HEARTBEAT_PATH.match(scope["path"])
            and getattr(self.state, "obt", None) is not None
        ):
            scope["app"] = self
            await self.heartbeat(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def full_stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(
    settings: ApiSettings,
    *,
    liveness: LivenessConfig | None = None,
    startup_hooks: Sequence[StartupHook] = (),
    dashboard: Path | bool | None = False,
) -> FastAPI:
    """The API. `startup_hooks` run after the database is ready (obt serve starts its agent
    there) and may return a stop function. `dashboard`: a directory, None for the "not built"
    page, False to serve no dashboard (tests)."""
    conflict = settings.demo_conflict()  # again: model_copy() skips the validators
    if conflict:
        raise ValueError(conflict)
    limiter = RateLimiter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database.url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        bus = EventBus(settings.api.events.buffer_size)
        listener = None
        if not is_sqlite(settings.database.url):
            listener = PgListener(asyncpg_dsn(settings.database.url), bus)
            await listener.start()
        store = NodeStore(sessions, bus)
        action_store = ActionStore(sessions, bus)
        await action_store.load()
        cluster_writer = None
        mirror = None
        if settings.api.cluster.enabled:
            # Cluster mode: the mirror (leader only) is the one path of OllamaNodes into SQL;
            # standalone reports and heartbeats go to OllamaNodes and Leases (cluster/).
            from obt.api.cluster.runtime import ClusterRuntime

            mirror = ClusterRuntime(settings.kube, settings.api.cluster, store, action_store)
            cluster_writer = mirror.standalone
            actions = ActionRuntime(action_store, ClusterBackend(action_store, mirror.client))
        else:
            # Local mode: the database holds tasks and sets; this API aggregates their status.
            actions = ActionRuntime(
                action_store, LocalBackend(action_store), LocalReconciler(action_store)
            )
        ingest = AgentIngest(
            sessions,
            store,
            flush_interval_s=settings.api.heartbeat_flush_seconds,
            liveness=liveness or settings.api.liveness,
            cluster=cluster_writer,
        )
        await ingest.load()
        ingest.start(local_liveness=not settings.api.cluster.enabled)
        state = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            bus=bus,
            store=store,
            ingest=ingest,
            limiter=limiter,
            auth=AuthRuntime(settings),
            mirror=mirror,
            actions=actions,
        )
        app.state.obt = state
        actions.start()
        if mirror is not None:
            mirror.start()
        stops = []
        for hook in startup_hooks:
            stop = await hook(state)
            if stop is not None:
                stops.append(stop)
        pruner = state.audit_pruner = AuditPruner(sessions, settings.api.audit)
        pruner.start()
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            await pruner.stop()
            for stop in reversed(stops):
                await stop()
            await actions.stop()
            if mirror is not None:
                await mirror.stop()
            await ingest.stop()
            if listener is not None:
                await listener.stop()
            await engine.dispose()

    app = _ObtApi(
        title="OBT API",
        version=__version__,
        description="Live inventory of Ollama machines: nodes, models, fleet summary, live "
        "events, model operations (tasks and model sets), and the ingress of standalone agents.",
        lifespan=lifespan,
        dependencies=[Depends(errors.single_valued_query)],
    )
    errors.install(app)
    from obt.api.admin import demo_router
    from obt.api.admin import router as admin_router

    routers = [
        nodes_router,
        catalogue_router,
        fleet_router,
        agents_router,
        actions_router,
        work_router,
        labels_router,
        events_router,
        health_router,
        auth_router,
        audit_router,
        admin_router,
        *([demo_router] if settings.api.demo else []),
    ]
    for router in routers:
        app.include_router(router)
    app.roles = collect_roles(routers)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
            max_age=600,
        )

    app.add_middleware(AuditMiddleware)  # inside the guard: what it refuses is not an action
    app.add_middleware(GuardMiddleware, settings=settings, limiter=limiter)
    # The dashboard shell's inline scripts are allowed by their hashes (headers.py).
    hashes = inline_hashes(dashboard) if isinstance(dashboard, Path) else []
    app.add_middleware(SecurityHeaders, hashes=hashes)
    # Heartbeats skip FastAPI's middleware stack altogether (see _ObtApi): the same guard (body
    # limit, per-address rate) and security headers in front of the fast path, nothing else.
    app.heartbeat = SecurityHeaders(
        GuardMiddleware(HeartbeatFastPath(app.full_stack), settings=settings, limiter=limiter),
        hashes=hashes,
    )
    if dashboard is not False:
        from obt.api.static import mount_dashboard

        mount_dashboard(app, dashboard if isinstance(dashboard, Path) else None)
    return app
