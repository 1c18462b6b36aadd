"""What happens to standalone reports and heartbeats, in local and cluster mode.

Heartbeats that carry nothing new never touch the database on the request path: the node's token
hash, last digest and last-seen time live in memory (loaded from `node_credentials` at start-up),
and last-seen times are persisted in one batched UPDATE every `heartbeat_flush_seconds`. Reports are
written only when their digest differs from the last one stored.

A removed node's digest is forgotten, so that its next heartbeat answers `reportNeeded` and a host
that comes back (a laptop that slept past the removal timeout) is listed again by itself. Removal
happens where the node rows are written (local mode: `judge_once`; cluster mode: the mirror, on the
leader, when the operator deleted the OllamaNode), and any replica may receive the host's next
heartbeat, so the store clears `node_credentials.last_digest` in the removal's own transaction and
every replica drops its in-memory copy on the `node.deleted` event (PostgreSQL NOTIFY reaches all
replicas; on a lost LISTEN connection the bus says `resync` and the digests are re-read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import JSON, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from obt.api.db.engine import write_session
from obt.api.db.tables import Node, NodeCredential
from obt.api.nodes.store import NodeRecord, NodeStore, utcnow
from obt.api.security import hash_token
from obt.core.liveness import (
    Judged,
    LivenessConfig,
    RemovalWindow,
    judge_standalone,
    next_condition,
    plan_removals,
    status_update,
)
from obt.core.models import Condition
from obt.core.report import AgentReport
from obt.core.telemetry import Telemetry

log = logging.getLogger(__name__)


class ClusterWriter(Protocol):
    """Cluster mode: standalone reports become OllamaNodes and heartbeats renew Leases."""

    async def write_report(
        self, name: str, spec: dict[str, Any], labels: dict[str, str], report: AgentReport
    ) -> None: ...

    async def renew_lease(self, name: str) -> None: ...

    async def delete_lease(self, name: str) -> None:
        """Delete the host's heartbeat Lease (gone already is fine)."""
        ...


@dataclass
class Credential:
    node_name: str
    host_id: str
    display_name: str | None
    labels: dict[str, str]
    digest: str | None = None
    last_seen: datetime | None = None  # on this API's clock
    monotonic_seen: float = 0.0
    telemetry: Telemetry | None = None  # live GPU figures of the last heartbeat
    telemetry_at: datetime | None = None
    token_hash: str | None = None  # None: the embedded agent of `obt serve` (no token)


@dataclass
class IngestStats:
    heartbeats: int = 0
    reports: int = 0
    reports_written: int = 0
    flushes: int = 0


class AgentIngest:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: NodeStore,
        *,
        flush_interval_s: float,
        liveness: LivenessConfig | None = None,
        cluster: ClusterWriter | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.liveness = liveness or LivenessConfig()
        self.cluster = cluster
        self.by_hash: dict[str, Credential] = {}
        self.by_name: dict[str, Credential] = {}
        self._dirty: set[str] = set()
        self._flush_lock = asyncio.Lock()
        self.stats = IngestStats()
        self.removals = RemovalWindow()  # local mode's removals of the last minute
        self.started_at = utcnow()
        self._tasks: list[asyncio.Task[None]] = []
        self._reloads: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------
    async def load(self) -> None:
        async with self.sessions() as session:
            for row in (await session.execute(select(NodeCredential))).scalars():
                self._cache(row.token_hash, row)

    def _cache(self, token_hash: str, row: NodeCredential) -> Credential:
        old = self.by_name.get(row.node_name)
        if old is not None:
            self.by_hash = {h: c for h, c in self.by_hash.items() if c is not old}
        cred = Credential(
            node_name=row.node_name,
            host_id=row.host_id,
            display_name=row.display_name,
            labels=dict(row.labels or {}),
            digest=row.last_digest,
            last_seen=old.last_seen if old else None,
            token_hash=token_hash,
        )
        self.by_hash[token_hash] = cred
        self.by_name[row.node_name] = cred
        return cred

    def start(self, *, local_liveness: bool) -> None:
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="heartbeat-flush"))
        self.store.bus.listen(self._on_event)
        if local_liveness:
            self._tasks.append(asyncio.create_task(self._liveness_loop(), name="local-liveness"))

    async def stop(self) -> None:
        for task in [*self._tasks, *self._reloads]:
            task.cancel()
        for task in [*self._tasks, *self._reloads]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.flush()

    # -- enrollment ---------------------------------------------------------------------
    async def register(
        self,
        session: AsyncSession,
        node_name: str,
        host_id: str,
        token: str,
        display_name: str | None,
        labels: dict[str, str],
    ) -> None:
        """Store a node's new token (replacing an earlier one for the same host)."""
        row = await session.get(NodeCredential, node_name)
        if row is None:
            row = NodeCredential(node_name=node_name, created_at=utcnow())
            session.add(row)
        row.token_hash = hash_token(token)
        row.host_id = host_id
        row.display_name = display_name
        row.labels = labels
        await session.flush()
        self._cache(row.token_hash, row)

    def embedded(self, node_name: str, host_id: str, display_name: str | None = None) -> Credential:
        """The in-process agent of `obt serve`: reports through `report` without a token."""
        cred = self.by_name.get(node_name) or Credential(
            node_name=node_name, host_id=host_id, display_name=display_name, labels={}
        )
        self.by_name[node_name] = cred
        return cred

    async def revoke(self, session: AsyncSession, node_name: str) -> bool:
        """Delete a node's token (in the caller's transaction) and forget it here at once; other
        replicas forget it at their next heartbeat flush. False when the node had no token."""
        row = await session.get(NodeCredential, node_name)
        if row is not None:
            await session.delete(row)
            await session.flush()
        return self.forget(node_name) or row is not None

    def forget(self, node_name: str) -> bool:
        """Drop a node's token from memory: its next request is 401."""
        cred = self.by_name.get(node_name)
        if cred is None or cred.token_hash is None:
            return False
        del self.by_name[node_name]
        self.by_hash.pop(cred.token_hash, None)
        self._dirty.discard(node_name)
        return True

    def authenticate(self, token: str | None) -> Credential | None:
        if not token:
            return None
        return self.by_hash.get(hash_token(token))

    # -- the hot path -------------------------------------------------------------------
    async def heartbeat(
        self, cred: Credential, digest: str, telemetry: Telemetry | None = None
    ) -> bool:
        """Record the heartbeat; True when a report is needed."""
        self.stats.heartbeats += 1
        self._seen(cred)
        self.set_telemetry(cred, telemetry)
        if self.cluster is not None:
            await self.cluster.renew_lease(cred.node_name)
        return cred.digest != digest

    def set_telemetry(self, cred: Credential, telemetry: Telemetry | None) -> None:
        """Keep a node's live GPU figures (persisted with the next flush of last-seen times)."""
        cred.telemetry = telemetry if telemetry is not None and telemetry.gpus else None
        cred.telemetry_at = datetime.now(timezone.utc) if cred.telemetry is not None else None
        self._dirty.add(cred.node_name)

    def live_telemetry(self, name: str) -> tuple[Telemetry, datetime] | None:
        """What this process received last for `name` (another replica may have newer)."""
        cred = self.by_name.get(name)
        if cred is None or cred.telemetry is None or cred.telemetry_at is None:
            return None
        return cred.telemetry, cred.telemetry_at

    def _seen(self, cred: Credential) -> None:
        cred.last_seen = datetime.now(timezone.utc)
        cred.monotonic_seen = time.monotonic()
        self._dirty.add(cred.node_name)

    async def report(self, cred: Credential, report: AgentReport) -> str:
        """Accept a report; write it only when its digest is new. Returns the digest."""
        self.stats.reports += 1
        digest = report.digest()
        self._seen(cred)
        if digest != cred.digest:
            spec = {
                "source": "standalone",
                "hostId": cred.host_id,
                **({"displayName": cred.display_name} if cred.display_name else {}),
            }
            if self.cluster is not None:
                await self._reload_labels(cred)
                await self.cluster.write_report(cred.node_name, spec, cred.labels, report)
                await self.cluster.renew_lease(cred.node_name)
            else:
                await self._write_local(cred, spec, report, digest)
            async with write_session(self.sessions) as session:
                await session.execute(
                    update(NodeCredential)
                    .where(NodeCredential.node_name == cred.node_name)
                    .values(last_digest=digest)
                )
            cred.digest = digest
            self.stats.reports_written += 1
        elif self.cluster is not None:
            await self.cluster.renew_lease(cred.node_name)
        return digest

    async def _reload_labels(self, cred: Credential) -> bool:
        """The stored labels win over this replica's memory: an admin may have replaced them
        through another replica (PUT /api/v1/nodes/{name}/labels). False: no credential row."""
        async with self.sessions() as session:
            stored = (
                await session.execute(
                    select(NodeCredential.labels).where(NodeCredential.node_name == cred.node_name)
                )
            ).scalar_one_or_none()
        if stored is None:
            return False
        cred.labels = dict(stored)
        return True

    async def _write_local(
        self, cred: Credential, spec: dict[str, Any], report: AgentReport, digest: str
    ) -> None:
        now = utcnow()
        async with self.sessions() as session:
            found = (
                await session.execute(
                    select(Node.status, Node.labels).where(Node.name == cred.node_name)
                )
            ).one_or_none()
        prior = found[0] if found is not None else None
        stored = await self._reload_labels(cred)
        if not stored and cred.token_hash is None and not cred.labels and found and found[1]:
            # `obt serve`'s own machine has no credential row: its labels are its node's.
            cred.labels = dict(found[1])
        previous = [Condition.model_validate(c) for c in (prior or {}).get("conditions", [])]
        verdict = judge_standalone(now, now, self.liveness)
        conditions = next_condition(previous, verdict, now) or previous
        status = dict(report.status_patch()["status"])
        if prior and prior.get("activity"):
            status["activity"] = prior["activity"]  # the agent sends it on its own route
        status["phase"] = verdict.phase
        status["conditions"] = [c.to_wire() for c in conditions]
        await self.store.upsert(
            NodeRecord(
                name=cred.node_name,
                spec=spec,
                status=status,
                labels=cred.labels,
                report_digest=digest,
                last_seen_at=cred.last_seen,
            )
        )

    # -- removals -----------------------------------------------------------------------
    def forget_report(self, name: str) -> None:
        """The node was removed: its next heartbeat asks for the full report."""
        cred = self.by_name.get(name)
        if cred is not None and cred.digest is not None:
            cred.digest = None
            log.info("node %s was removed: its next heartbeat asks for a report", name)

    async def reload_digests(self) -> None:
        """After missed events: forget every digest the database no longer holds."""
        async with self.sessions() as session:
            stored = dict(
                (
                    await session.execute(
                        select(NodeCredential.node_name, NodeCredential.last_digest)
                    )
                ).all()
            )
        for name in list(self.by_name):
            if name in stored and stored[name] is None:
                self.forget_report(name)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "node.deleted":
            self.forget_report(str(event.get("name")))
        elif event.get("type") == "resync":
            task = asyncio.get_running_loop().create_task(self._reload_logged())
            self._reloads.add(task)  # a reference, until it is done
            task.add_done_callback(self._reloads.discard)

    async def _reload_logged(self) -> None:
        try:
            await self.reload_digests()
        except Exception:
            log.exception("re-reading report digests after missed events failed")

    # -- background ---------------------------------------------------------------------
    async def flush(self) -> int:
        """Persist last-seen times of the nodes that heartbeated since the last flush. One at a
        time: a flush that found nothing new must not return while another is still writing
        (a caller then reads the database expecting what was flushed)."""
        async with self._flush_lock:
            return await self._flush_dirty()

    async def _flush_dirty(self) -> int:
        if not self._dirty:
            return 0
        dirty, self._dirty = self._dirty, set()
        # Rows in name order, node rows before credential rows: the order every writer of both
        # takes (NodeStore.remove_in deletes the node, then clears the credential's digest), so
        # a flush and a removal on PostgreSQL wait for each other instead of deadlocking.
        creds = [
            self.by_name[name]
            for name in sorted(dirty)
            if name in self.by_name and self.by_name[name].last_seen
        ]
        rows = [{"n": c.node_name, "t": c.last_seen} for c in creds]
        async with write_session(self.sessions) as session:
            conn = await session.connection()
            if self.cluster is None:  # cluster mode: node rows come only from the mirror
                await conn.execute(
                    update(Node)
                    .where(Node.name == bindparam("n"))
                    .values(last_seen_at=bindparam("t")),
                    rows,
                )
            await conn.execute(
                update(NodeCredential)
                .where(NodeCredential.node_name == bindparam("n"))
                .values(
                    last_heartbeat_at=bindparam("t"),
                    telemetry=bindparam("m", type_=JSON),
                    telemetry_at=bindparam("a", type_=NodeCredential.telemetry_at.type),
                ),
                [
                    {
                        **row,
                        "m": c.telemetry.model_dump(by_alias=True, exclude_none=True)
                        if c.telemetry is not None
                        else None,
                        "a": c.telemetry_at,
                    }
                    for row, c in zip(rows, creds, strict=True)
                ],
            )
            with_token = [c.node_name for c in creds if c.token_hash is not None]
            stored = await self._stored_names(session, with_token)
        # A token revoked through another replica stops working here too (within one flush of
        # the host's next heartbeat). Only a missing row counts: a row replaced by an
        # enrollment not yet committed must not make its brand-new token fail.
        for name in with_token:
            if name not in stored:
                self.forget(name)
        self.stats.flushes += 1
        return len(rows)

    @staticmethod
    async def _stored_names(session: AsyncSession, names: list[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            rows = await session.execute(
                select(NodeCredential.node_name).where(NodeCredential.node_name.in_(chunk))
            )
            out.update(rows.scalars())
        return out

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("persisting heartbeat times failed; retrying next round")

    async def judge_once(self, now: datetime | None = None) -> None:
        """Local mode: the liveness plan of obt.core (judge, guard, rate-limited removal) applied
        to standalone nodes."""
        now = now or utcnow()
        cfg = self.liveness
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Node.name, Node.phase, Node.status).where(Node.source == "standalone")
                )
            ).all()
        judged: list[Judged[str]] = []
        for name, phase, status in rows:
            cred = self.by_name.get(name)
            # Hosts not heard from since this process started are measured from the start.
            observed = cred.last_seen if cred and cred.last_seen else self.started_at
            verdict = judge_standalone(observed, now, cfg)
            previous = [Condition.model_validate(c) for c in (status or {}).get("conditions", [])]
            conditions = status_update(previous, phase, verdict, now)
            if conditions is not None:
                await self.store.set_phase(name, verdict.phase, conditions, now)
            judged.append(Judged(name, verdict, observed if verdict.agent_gone else None))
        plan = plan_removals(
            judged, len(rows), now - self.started_at, now, self.removals.count(now), cfg
        )
        if plan.due and not plan.guard.allowed:
            log.info("not removing %d silent nodes: %s", len(plan.due), plan.guard.message)
        for name in plan.removals:
            if await self.store.remove(name, "AgentGone"):
                self.forget_report(name)  # at once, not only when the event arrives
                self.removals.record(now)
                log.info("removed standalone node %s: no heartbeat", name)

    async def _liveness_loop(self) -> None:
        interval = self.liveness.sweep_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.judge_once()
            except Exception:
                log.exception("local liveness round failed")


def since(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)
