"""List + watch OllamaNodes into SQL through the one write path (nodes/store.py).

- Start (and every relist): list every OllamaNode (paginated), upsert each one carrying its
  resourceVersion, then tombstone every row the list did not contain (reason `Vanished`): after a
  sync the table equals the cluster, whatever happened while nobody watched (API restarts).
- Then watch from the list's resourceVersion with bookmarks; ADDED/MODIFIED -> upsert, DELETED ->
  tombstone (reason: the `obt.dev/removal-reason` annotation the deleter set, else `AgentGone`
  when the object's last Ready condition said its agent was gone, i.e. the operator removed it,
  else `Deleted`), BOOKMARK -> only advances the resume resourceVersion. Whatever arrived in one
  read is written in one transaction (the last event per node only).
- A watch that ends (server timeout, dropped connection) resumes from the last resourceVersion
  seen; a 410 Gone (ERROR event or HTTP status) relists and sweeps. Other failures retry with
  exponential backoff and jitter (obt.core.backoff).
- Idempotent: the store writes nothing when the row already holds that resourceVersion and
  content, and the mirror skips an event whose resourceVersion is older than the row's.
- A removed standalone host's heartbeat Lease is deleted (`on_removed`, after the commit): the
  leader alone does it, once per removal, and a host that comes back renews a fresh one.
- Only the leader writes (leadership is re-checked inside every transaction before commit); a
  replica that loses the Lease stops its watch and stands by.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from obt.api.cluster.kube import NODES_PATH, REMOVAL_REASON, WatchStream
from obt.api.db.engine import write_session
from obt.api.db.tables import Node
from obt.api.nodes.store import NodeRecord, NodeStore
from obt.core.backoff import Backoff
from obt.core.kube import ApiError, KubeClient

log = logging.getLogger(__name__)


# Ready-condition reasons with which the liveness rules (obt.core.liveness) say an agent is gone:
# the operator deletes such an OllamaNode after the removal timeout.
AGENT_GONE_REASONS = frozenset({"LeaseExpired", "AgentPodMissing"})


def deletion_reason(obj: dict[str, Any]) -> str:
    """Why an OllamaNode was deleted: what the deleter annotated (`obt node rm`: Decommissioned),
    else as far as its last state tells."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get(REMOVAL_REASON):
        return str(annotations[REMOVAL_REASON])[:64]
    conditions = (obj.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") == "True":
        return "Deleted"
    return "AgentGone" if ready.get("reason") in AGENT_GONE_REASONS else "Deleted"


class Gone(Exception):
    """The resourceVersion we hold is too old (410): relist."""


class NotLeader(Exception):
    """Leadership lapsed during a write: roll back, stand by."""


def _rv_int(rv: str | None) -> int | None:
    try:
        return int(rv) if rv is not None else None
    except ValueError:
        return None


def is_older(incoming: str | None, stored: str | None) -> bool:
    """resourceVersions are opaque, but etcd's are increasing integers; compare only those."""
    a, b = _rv_int(incoming), _rv_int(stored)
    return a is not None and b is not None and a < b


@dataclass
class MirrorStats:
    events: int = 0
    bookmarks: int = 0
    relists: int = 0
    reconnects: int = 0
    swept: int = 0
    skipped_older: int = 0
    errors: int = 0
    lag_s: deque[float] = field(default_factory=lambda: deque(maxlen=10000))


class Mirror:
    def __init__(
        self,
        store: NodeStore,
        client: KubeClient,
        stream: WatchStream,
        *,
        is_leader: Callable[[], bool] = lambda: True,
        watch_timeout_s: int = 300,
        page_size: int = 500,
        backoff: Backoff | None = None,
        on_removed: Callable[[str], Awaitable[None]] | None = None,
        path: str = NODES_PATH,
    ) -> None:
        self.path = path  # the collection listed and watched
        self.store = store
        self.client = client
        self.stream = stream
        self.is_leader = is_leader
        self.watch_timeout_s = watch_timeout_s
        self.page_size = page_size
        self.backoff = backoff or Backoff(base=0.2, cap=30.0)
        self.on_removed = on_removed  # called with each removed standalone host's name
        self.resume_rv: str | None = None
        self.synced = False
        self.stats = MirrorStats()

    # -- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
        """Sync and follow until cancelled (or leadership is lost: NotLeader propagates)."""
        self.synced = False
        self.resume_rv = None
        while True:
            try:
                if self.resume_rv is None:
                    self.resume_rv = await self.relist()
                    self.synced = True
                await self.watch_once()
                self.backoff.reset()
            except Gone:
                log.info("watch history expired at %s: relisting", self.resume_rv)
                self.resume_rv = None
            except NotLeader:
                raise
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.stats.errors += 1
                delay = self.backoff.next_delay()
                log.warning("mirror: %s; retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
            self.stats.reconnects += 1

    async def relist(self) -> str:
        """List everything, upsert it, tombstone rows not listed; returns the list's rv."""
        self.stats.relists += 1
        seen: set[str] = set()
        cont: str | None = None
        list_rv = ""
        while True:
            params = {"limit": str(self.page_size)}
            if cont:
                params["continue"] = cont
            try:
                page = await self.client.request("GET", self.path, params=params)
            except ApiError as error:
                if error.status == 410:  # the continue token expired: start over
                    seen.clear()
                    cont = None
                    continue
                raise
            items = page.get("items") or []
            meta = page.get("metadata") or {}
            list_rv = str(meta.get("resourceVersion") or list_rv)
            seen.update(i["metadata"]["name"] for i in items)
            await self.apply([("ADDED", item) for item in items])
            cont = meta.get("continue") or None
            if not cont:
                break
        await self.sweep(seen)
        return list_rv

    async def sweep(self, listed: set[str]) -> int:
        names = await self.store.names()
        gone = sorted(names - listed)
        for start in range(0, len(gone), 200):
            async with write_session(self.store.sessions) as session:
                events: list[dict[str, Any]] = []
                for name in gone[start : start + 200]:
                    events += await self.store.remove_in(session, name, "Vanished")
                await self._commit(session, events)
            self.store._after_commit(events)
            await self._removed(events)
        self.stats.swept += len(gone)
        return len(gone)

    async def watch_once(self) -> None:
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resume_rv or "",
            "timeoutSeconds": str(self.watch_timeout_s),
        }
        try:
            async for batch in self.stream.events(self.path, params):
                received = time.perf_counter()
                changes: list[tuple[str, dict[str, Any]]] = []
                for event in batch:
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise Gone()
                        raise ApiError(
                            int(obj.get("code") or 0),
                            str(obj.get("reason") or "Error"),
                            str(obj.get("message") or "watch error"),
                        )
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if kind == "BOOKMARK":
                        self.stats.bookmarks += 1
                    elif kind in ("ADDED", "MODIFIED", "DELETED"):
                        changes.append((kind, obj))
                    if rv:
                        self.resume_rv = rv
                if changes:
                    await self.apply(changes)
                    self.stats.events += len(changes)
                    self.stats.lag_s.append(time.perf_counter() - received)
                if not self.is_leader():
                    raise NotLeader()
        except ApiError as error:
            if error.status == 410:
                raise Gone() from error
            raise

    # -- writes ---------------------------------------------------------------------------
    async def apply(self, changes: list[tuple[str, dict[str, Any]]]) -> int:
        """Write a batch of watch events in one transaction; returns the rows changed."""
        if not changes:
            return 0
        # Only the last event per node in a batch matters (the object's latest state): a burst
        # of changes to one node costs one write.
        latest: dict[str, tuple[str, dict[str, Any]]] = {}
        for kind, obj in changes:
            name = obj["metadata"]["name"]
            latest.pop(name, None)
            latest[name] = (kind, obj)
        changes = list(latest.values())
        events: list[dict[str, Any]] = []
        async with write_session(self.store.sessions) as session:
            names = [obj["metadata"]["name"] for _, obj in changes]
            stored = dict(
                (
                    await session.execute(
                        select(Node.name, Node.resource_version).where(Node.name.in_(names))
                    )
                ).all()
            )
            upserts: list[NodeRecord] = []
            for kind, obj in changes:
                name = obj["metadata"]["name"]
                rv = obj["metadata"].get("resourceVersion")
                if kind == "DELETED":
                    if name in stored:
                        events += await self.store.remove_in(session, name, deletion_reason(obj))
                        stored.pop(name)
                    continue
                if is_older(rv, stored.get(name)):
                    self.stats.skipped_older += 1
                    continue
                upserts.append(NodeRecord.from_object(obj))
                stored[name] = rv
            # One batch: a fixed number of statements however many nodes changed.
            events += await self.store.upsert_batch_in(session, upserts)
            await self._commit(session, events)
        self.store._after_commit(events)
        await self._removed(events)
        return sum(e["type"] != "models.changed" for e in events)

    async def _removed(self, events: list[dict[str, Any]]) -> None:
        """Clean up after committed removals; a failure is logged, never stops the mirror (the
        Lease of a host that stays away is then left behind, as before this hook existed)."""
        if self.on_removed is None:
            return
        for event in events:
            if event["type"] == "node.deleted" and event.get("source") == "standalone":
                try:
                    await self.on_removed(event["name"])
                except Exception as error:
                    log.warning("mirror: cleaning up after %s failed: %s", event["name"], error)

    async def _commit(self, session: AsyncSession, events: list[dict[str, Any]]) -> None:
        if not self.is_leader():
            raise NotLeader()  # rolls the transaction back: a follower never commits
        await self.store._announce(session, events)

    # -- observability ----------------------------------------------------------------------
    def metrics(self) -> list[Any]:
        s = self.stats
        out: list[Any] = [
            CounterMetricFamily(name, help_, value=value)
            for name, value, help_ in (
                ("obt_api_mirror_events", s.events, "OllamaNode watch events applied."),
                ("obt_api_mirror_bookmarks", s.bookmarks, "Watch bookmarks received."),
                ("obt_api_mirror_relists", s.relists, "Full lists (start, 410 Gone)."),
                ("obt_api_mirror_swept", s.swept, "Rows tombstoned because a relist lacked them."),
                ("obt_api_mirror_errors", s.errors, "Watch/list failures (retried with backoff)."),
            )
        ]
        out.append(GaugeMetricFamily("obt_api_mirror_synced", "1 once listed.", value=self.synced))
        return out


async def cancel(task: asyncio.Task[Any] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
