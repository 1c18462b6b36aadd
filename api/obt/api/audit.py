"""The audit trail: every state-changing request a person or script makes, recorded once.

`AuditMiddleware` sits around every route (not the heartbeat's fast path, which never enters
the middleware stack): for each non-GET request that matched an operation it writes who
(`request.state.principal`, set by auth/access.py's `resolve_principal`), the role, the
operationId, the target (path parameters, or what the handler put in
`request.state.audit_target`; never a secret), the HTTP status and the client address (the
peer as the rate limiter sees it: uvicorn has already applied the trusted proxies'
X-Forwarded-For). The agents' own operations (enrollment, reports, heartbeats) are node
traffic and are not recorded. `GET /api/v1/audit` (admin) reads it; `AuditPruner` deletes
entries past `api.audit.retention_seconds` in bounded batches.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BeforeValidator, Field
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from obt.api.auth.access import SAFE_METHODS, require, route_role
from obt.api.auth.roles import ANONYMOUS, Principal, Role
from obt.api.db.tables import AuditEntry
from obt.api.deps import SessionDep
from obt.api.nodes.store import utcnow
from obt.api.schemas import VALIDATION_RESPONSES, ApiModel, Page, Problem
from obt.api.settings import AuditGroup

log = logging.getLogger(__name__)

# Operations that are the agents' own traffic, not people's actions.
NOT_AUDITED_ROLES = frozenset({"node", "enrollment"})
TARGET_KEY = "audit_target"


def _clip(value: str, size: int) -> str:
    return value if len(value) <= size else value[: size - 1] + "…"


def entry_for(scope: Scope, status: int) -> AuditEntry | None:
    """The audit row of one finished request, or None when it is not audited."""
    route = scope.get("route")
    if not isinstance(route, APIRoute) or not route.operation_id:
        return None
    if route_role(route) in NOT_AUDITED_ROLES:
        return None
    state: dict[str, Any] = scope.get("state") or {}
    principal: Principal = state.get("principal") or ANONYMOUS
    target = state.get(TARGET_KEY)
    if target is None:
        params: dict[str, Any] = scope.get("path_params") or {}
        target = ",".join(f"{k}={v}" for k, v in params.items())
    client = scope.get("client")
    return AuditEntry(
        at=utcnow(),
        actor_kind=principal.kind,
        actor_id=_clip(principal.id, 256),
        actor_name=_clip(principal.name, 256),
        role=principal.role.value if principal.role else None,
        action=route.operation_id,
        method=scope["method"],
        path=_clip(scope.get("path", ""), 512),
        target=_clip(str(target), 512),
        status=status,
        client=_clip(client[0] if client else "-", 64),
    )


class AuditMiddleware:
    """Records every state-changing request that matched an audited operation."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await self._record(scope, status)

    async def _record(self, scope: Scope, status: int) -> None:
        entry = entry_for(scope, status)
        state = getattr(scope["app"].state, "obt", None)
        if entry is None or state is None:
            return
        try:
            async with state.sessions() as session:
                session.add(entry)
                await session.commit()
        except Exception:  # the trail must never break the request it records
            log.exception("could not record the audit entry of %s %s", entry.method, entry.path)


async def prune(
    sessions: async_sessionmaker[AsyncSession], older_than: datetime, batch: int
) -> int:
    """Delete entries before `older_than`, at most `batch` rows per statement (SQLite and
    PostgreSQL alike: DELETE ... WHERE id IN (SELECT id ... LIMIT n)). Returns the count."""
    total = 0
    while True:
        oldest = (
            select(AuditEntry.id)
            .where(AuditEntry.at < older_than)
            .order_by(AuditEntry.id)
            .limit(batch)
        )
        async with sessions() as session:
            result = await session.execute(delete(AuditEntry).where(AuditEntry.id.in_(oldest)))
            await session.commit()
        deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
        total += deleted
        if deleted < batch:
            return total
        await asyncio.sleep(0)  # let requests in between batches


class AuditPruner:
    """The background loop: prune now, then every `prune_interval_seconds`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: AuditGroup) -> None:
        self.sessions = sessions
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        cutoff = utcnow() - timedelta(seconds=self.settings.retention_seconds)
        deleted = await prune(self.sessions, cutoff, self.settings.prune_batch)
        if deleted:
            log.info("audit trail: deleted %d entries older than %s", deleted, cutoff.isoformat())
        return deleted

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("audit trail: pruning failed; trying again next interval")
            await asyncio.sleep(self.settings.prune_interval_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="audit-pruner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# ---- GET /api/v1/audit ------------------------------------------------------------------

router = APIRouter(tags=["audit"], responses=VALIDATION_RESPONSES)

OUTCOME = re.compile(r"^[1-5]xx$")
ISO_START = re.compile(r"^\d{4}-\d\d-\d\d[T ]")


def _iso_only(value: object) -> object:
    """An instant as ISO 8601 text: pydantic alone would also read a bare number as a Unix time,
    which the documented `date-time` format does not admit."""
    if isinstance(value, str) and not ISO_START.match(value):
        raise ValueError("not an ISO 8601 date and time (e.g. 2026-12-03T10:00:00Z)")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_only)]


class AuditRecord(ApiModel):
    id: int
    at: datetime
    actor_kind: str = Field(..., description="anonymous, token, session or proxy.")
    actor_id: str = Field(
        ..., description="The API token's id ('admin': the admin token), or the proxy user."
    )
    actor_name: str = Field(..., description="The token's description, or the proxy user.")
    role: Role | None = Field(None, description="The role the request acted with.")
    action: str = Field(..., description="The operationId, e.g. createApiToken.")
    method: str
    path: str
    target: str = Field(..., description="What it acted on: path parameters or a token's id.")
    status: int = Field(..., description="The HTTP status answered.")
    client: str = Field(..., description="The client address (after trusted proxies).")


class AuditPage(Page[AuditRecord]):
    """A page of the audit trail, newest first."""


@router.get(
    "/api/v1/audit",
    operation_id="listAuditEntries",
    response_model=AuditPage,
    responses={
        401: {"model": Problem, "description": "No credential, or a refused one."},
        403: {"model": Problem, "description": "The credential's role is too low."},
    },
    dependencies=[require(Role.admin)],
)
async def list_audit(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, description="Entries to skip.")] = 0,
    actor: Annotated[
        str | None, Query(max_length=256, description="Actor id or name (exact).")
    ] = None,
    action: Annotated[str | None, Query(max_length=64, description="operationId (exact).")] = None,
    outcome: Annotated[
        str | None,
        Query(pattern=OUTCOME.pattern, description="Status class: 1xx, 2xx, 3xx, 4xx or 5xx."),
    ] = None,
    since: Annotated[
        Instant | None, Query(description="At or after (ISO 8601 with a time zone).")
    ] = None,
    until: Annotated[
        Instant | None, Query(description="Before (ISO 8601 with a time zone).")
    ] = None,
) -> AuditPage:
    """The audit trail of state-changing requests, newest first."""
    where: list[ColumnElement[bool]] = []
    if actor:
        where.append((AuditEntry.actor_id == actor) | (AuditEntry.actor_name == actor))
    if action:
        where.append(AuditEntry.action == action)
    if outcome is not None:
        low = int(outcome[0]) * 100
        where.append(AuditEntry.status.between(low, low + 99))
    if since is not None:
        where.append(AuditEntry.at >= since)
    if until is not None:
        where.append(AuditEntry.at < until)
    total = (await session.execute(select(func.count(AuditEntry.id)).where(*where))).scalar_one()
    rows = (
        await session.execute(
            select(AuditEntry)
            .where(*where)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    items = [
        AuditRecord(
            id=r.id,
            at=r.at,
            actor_kind=r.actor_kind,
            actor_id=r.actor_id,
            actor_name=r.actor_name,
            role=Role(r.role) if r.role else None,
            action=r.action,
            method=r.method,
            path=r.path,
            target=r.target,
            status=r.status,
            client=r.client,
        )
        for r in rows
    ]
    return AuditPage(items=items, total=total, limit=limit, offset=offset)
