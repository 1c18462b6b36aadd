"""Cluster mode: OllamaBenchmarks and OllamaBenchmarkResults into SQL (leader only).

Each kind is listed, then watched (resuming from the last resourceVersion, relisting on 410
Gone, retrying other failures with backoff), like the OllamaNode mirror (mirror.py), but
simpler: there are few objects.

- OllamaBenchmarkResult ADDED/MODIFIED -> `store.ingest` (insert once, regression computed,
  `benchmark.result` announced). DELETED -> nothing: the SQL history outlives the resources.
- OllamaBenchmark ADDED/MODIFIED -> the `benchmarks` row (a status change is announced as
  `benchmark.progress`); DELETED, or missing from a relist -> the row goes (never its results).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from obt.api.benchmarks import store
from obt.api.cluster.kube import WatchStream
from obt.api.cluster.mirror import Gone, NotLeader, cancel
from obt.api.db.engine import write_session
from obt.api.db.tables import BenchmarkRow
from obt.api.events.bus import EventBus
from obt.core.backoff import Backoff
from obt.core.kube import ApiError, KubeClient, custom_path
from obt.core.models.benchmark import OllamaBenchmark, OllamaBenchmarkResultSpec
from obt.core.names import GROUP, VERSION

log = logging.getLogger(__name__)

Apply = Callable[[list[tuple[str, dict[str, Any]]]], Awaitable[None]]
Sweep = Callable[[set[str]], Awaitable[None]]


class KindFollower:
    """List + watch one cluster-scoped kind, handing each batch of events to `apply` and each
    complete list's names to `sweep`."""

    def __init__(
        self,
        client: KubeClient,
        stream: WatchStream,
        plural: str,
        apply: Apply,
        sweep: Sweep | None = None,
        *,
        is_leader: Callable[[], bool] = lambda: True,
        watch_timeout_s: int = 300,
    ) -> None:
        self.client = client
        self.stream = stream
        self.plural = plural
        self.path = custom_path(GROUP, VERSION, plural)
        self.apply = apply
        self.sweep = sweep
        self.is_leader = is_leader
        self.watch_timeout_s = watch_timeout_s
        self.backoff = Backoff(base=0.2, cap=30.0)
        self.resume_rv: str | None = None
        self.synced = False

    async def run(self) -> None:
        self.resume_rv = None
        while True:
            try:
                if self.resume_rv is None:
                    self.resume_rv = await self.relist()
                    self.synced = True
                await self.watch_once()
                self.backoff.reset()
            except Gone:
                self.resume_rv = None
            except (NotLeader, asyncio.CancelledError):
                raise
            except Exception as error:
                delay = self.backoff.next_delay()
                log.warning("%s mirror: %s; retrying in %.1fs", self.plural, error, delay)
                await asyncio.sleep(delay)

    async def relist(self) -> str:
        seen: set[str] = set()
        cont: str | None = None
        list_rv = ""
        while True:
            params = {"limit": "500"}
            if cont:
                params["continue"] = cont
            page = await self.client.list_custom(GROUP, VERSION, self.plural, params=params)
            items = page.get("items") or []
            meta = page.get("metadata") or {}
            list_rv = str(meta.get("resourceVersion") or list_rv)
            seen.update(i["metadata"]["name"] for i in items)
            await self.apply([("ADDED", item) for item in items])
            cont = meta.get("continue") or None
            if not cont:
                break
        if self.sweep is not None:
            await self.sweep(seen)
        return list_rv

    async def watch_once(self) -> None:
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resume_rv or "",
            "timeoutSeconds": str(self.watch_timeout_s),
        }
        try:
            async for batch in self.stream.events(self.path, params):
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
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        changes.append((str(kind), obj))
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.resume_rv = rv
                if changes:
                    await self.apply(changes)
                if not self.is_leader():
                    raise NotLeader()
        except ApiError as error:
            if error.status == 410:
                raise Gone() from error
            raise


class BenchmarkMirror:
    """The two followers, and what they write."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        dialect: str,
        client: KubeClient,
        stream: WatchStream,
        *,
        is_leader: Callable[[], bool] = lambda: True,
        watch_timeout_s: int = 300,
        work: store.WorkCounter | None = None,
    ) -> None:
        self.sessions = sessions
        self.work = work
        self.announcer = store.Announcer(bus, dialect)
        self.is_leader = is_leader
        self.results = KindFollower(
            client,
            stream,
            "ollamabenchmarkresults",
            self.apply_results,
            is_leader=is_leader,
            watch_timeout_s=watch_timeout_s,
        )
        self.benchmarks = KindFollower(
            client,
            stream,
            "ollamabenchmarks",
            self.apply_benchmarks,
            self.sweep_benchmarks,
            is_leader=is_leader,
            watch_timeout_s=watch_timeout_s,
        )

    async def run(self) -> None:
        """Both followers until cancelled (or one raises NotLeader: both stop)."""
        tasks = [
            asyncio.create_task(self.results.run(), name="mirror-benchmark-results"),
            asyncio.create_task(self.benchmarks.run(), name="mirror-benchmarks"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                await cancel(task)

    async def apply_results(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        for kind, obj in changes:
            if kind == "DELETED":
                continue  # the history stays
            name = obj["metadata"]["name"]
            try:
                spec = OllamaBenchmarkResultSpec.model_validate(obj.get("spec") or {})
            except ValidationError as error:
                log.warning("OllamaBenchmarkResult %s: not a valid result: %s", name, error)
                continue
            await store.ingest(self.sessions, self.announcer, name, spec)

    async def apply_benchmarks(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        latest: dict[str, tuple[str, dict[str, Any]]] = {}
        for kind, obj in changes:
            latest[obj["metadata"]["name"]] = (kind, obj)
        events: list[dict[str, Any]] = []
        moved: list[str] = []  # benchmarks whose spec or existence changed: agents' work
        async with write_session(self.sessions) as session:
            for name, (kind, obj) in latest.items():
                if kind == "DELETED":
                    if await store.delete_benchmark(session, name):
                        moved.append(name)
                    continue
                try:
                    bench = OllamaBenchmark.model_validate(obj)
                except ValidationError as error:
                    log.warning("OllamaBenchmark %s: not valid: %s", name, error)
                    continue
                before = await session.get(BenchmarkRow, name)
                old_status = dict(before.status) if before is not None else None
                old_spec = dict(before.spec) if before is not None else None
                if await store.upsert_benchmark(session, bench):
                    if store.benchmark_values(bench)["spec"] != old_spec:
                        moved.append(name)
                    new = store.benchmark_values(bench)["status"]
                    if new != old_status:
                        events.append(store.progress_event(name, bench.status))
            if not self.is_leader():
                raise NotLeader()
            await self.announcer.queue(session, events)
            work_events = await store.raise_work(self.work, session, moved, "updated")
        self.announcer.delivered(events)
        if self.work is not None:
            self.work.after_commit(work_events)

    async def sweep_benchmarks(self, listed: set[str]) -> None:
        async with write_session(self.sessions) as session:
            names = set((await session.execute(select(BenchmarkRow.name))).scalars())
            for name in sorted(names - listed):
                await store.delete_benchmark(session, name)
