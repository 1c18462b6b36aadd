"""The operator's shared state (kept in kopf's `memo`): settings, index, client, election, loops."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from obt.core.leader import LeaderElector
from obt.core.liveness import LivenessConfig
from obt.operator import cleanup, events
from obt.operator.index import FleetIndex, NodeEntry
from obt.operator.kube import ApiError, Connection, KubeClient
from obt.operator.liveness import StatusChange, SweepPlan, run_sweep
from obt.operator.metrics import OperatorMetrics, health_app
from obt.operator.settings import OperatorSettings

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class OperatorState:
    def __init__(
        self,
        settings: OperatorSettings,
        connection: Connection,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.config: LivenessConfig = settings.liveness
        self.now = clock
        self.index = FleetIndex(baseline=clock(), namespace=settings.namespace)
        self.client = KubeClient(
            connection, settings.user_agent, settings.kube.request_timeout_seconds
        )
        leader = settings.leader
        self.elector = LeaderElector(
            # No retries inside a round: a 409 means another replica won it, and the next round
            # comes within a retry period anyway.
            functools.partial(self.client.request, retries=0),
            settings.leader_namespace,
            leader.lease_name,
            settings.identity,
            lease_duration=leader.lease_duration_seconds,
            renew_deadline=leader.renew_deadline_seconds,
            retry_period=leader.retry_period_seconds,
            renew_period=leader.renew_period_seconds,
            enabled=leader.enabled,
        )
        self.metrics = OperatorMetrics()
        self.removal_times: list[datetime] = []
        self.guard_reason = "Allowed"
        self.blind = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._unlisted: dict[str, set[tuple[str, str]]] | None = {}
        self._seen: collections.defaultdict[str, set[tuple[str, str]]] = collections.defaultdict(
            set
        )
        self._site: web.AppRunner | None = None

    # Judging gates ------------------------------------------------------------------------------

    def check_sight(self) -> bool:
        """True while we can see the API server. Coming back from a blind spell restarts every
        silence clock: our blindness is not the nodes' silence."""
        blind = time.monotonic() - self.client.last_ok > self.config.blind_after_seconds
        if blind and not self.blind:
            log.warning("API server unreachable: judging nothing until it answers again")
        elif self.blind and not blind:
            log.warning("API server reachable again: silence clocks restart, grace applies")
            self.index.reset_clocks(self.now())
        self.blind = blind
        self.metrics.blind.set(1 if blind else 0)
        return not blind

    def may_write(self) -> bool:
        leader = self.elector.is_leader
        self.metrics.leader.set(1 if leader else 0)
        return leader and not self.blind

    # Writes ---------------------------------------------------------------------------------------

    async def write_status(self, change: StatusChange, now: datetime) -> None:
        entry, verdict = change.entry, change.verdict
        patch = {
            "status": {
                "phase": verdict.phase,
                "conditions": [c.to_wire() for c in change.conditions],
            }
        }
        try:
            written = await self.client.patch_merge(
                cleanup.ollamanode_path(entry.name, "status"), patch
            )
        except (ApiError, asyncio.TimeoutError, OSError) as error:
            log.warning("could not write status of %s (next sweep retries): %s", entry.name, error)
            return
        if written is None:
            self.index.forget_ollamanode(entry.name)
            return
        self.index.observe_ollamanode(written)
        if change.transition:
            self.metrics.transitions.labels(verdict.phase).inc()
            log.info(
                "%s is %s (%s): %s", entry.name, verdict.phase, verdict.reason, verdict.message
            )
            await events.post(
                self.client,
                events.event_body(
                    namespace=self.settings.namespace,
                    regarding=events.ollamanode_ref(entry.name, entry.uid),
                    reason=verdict.reason,
                    message=f"{verdict.phase}: {verdict.message}",
                    type_="Normal" if verdict.phase == "Ready" else "Warning",
                    now=now,
                    identity=self.settings.identity,
                ),
            )

    async def remove(self, entry: NodeEntry, now: datetime) -> None:
        try:
            await cleanup.delete_ollamanode(self.client, entry.name, entry.uid)
        except (ApiError, asyncio.TimeoutError, OSError) as error:
            log.warning("could not remove %s (next sweep retries): %s", entry.name, error)
            return
        self.removal_times.append(now)
        self.metrics.removals.inc()
        self.index.forget_ollamanode(entry.name)
        await events.post(
            self.client,
            events.event_body(
                namespace=self.settings.namespace,
                regarding=events.ollamanode_ref(entry.name, entry.uid),
                reason="Removed",
                message=f"Removed: its agent has been gone for "
                f"{self.config.remove_after_seconds:g}s or more.",
                type_="Normal",
                now=now,
                identity=self.settings.identity,
            ),
        )

    async def note_guard(self, plan: SweepPlan) -> None:
        """One warning Event when mass silence starts holding removals back (not one per sweep)."""
        reason = plan.guard.reason if plan.guard is not None else "Allowed"
        if reason == self.guard_reason:
            return
        self.guard_reason = reason
        if reason != "MassSilence" or plan.guard is None:
            return
        log.warning("%s", plan.guard.message)
        await events.post(
            self.client,
            events.event_body(
                namespace=self.settings.leader_namespace,
                regarding={
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "name": self.settings.leader.lease_name,
                    "namespace": self.settings.leader_namespace,
                },
                reason="MassSilence",
                message=plan.guard.message,
                type_="Warning",
                now=self.now(),
                identity=self.settings.identity,
            ),
        )

    # Loops ----------------------------------------------------------------------------------------

    async def sweep_forever(self) -> None:
        interval = self.config.sweep_interval_seconds
        while True:
            started = time.monotonic()
            try:
                if self.check_sight():
                    await run_sweep(self)
                else:
                    self.may_write()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad sweep must not stop the next
                log.exception("sweep failed")
            elapsed = time.monotonic() - started
            self.metrics.sweep_seconds.observe(elapsed)
            self.metrics.last_sweep = time.monotonic()
            await asyncio.sleep(max(0.0, interval - elapsed))

    async def probe_forever(self) -> None:
        """Keep `client.last_ok` meaningful when nothing else talks to the API server for a while
        (no election, no writes): a cheap GET /version whenever the last answer is getting old."""
        period = self.config.blind_after_seconds / 3
        while True:
            if time.monotonic() - self.client.last_ok > period:
                with contextlib.suppress(Exception):
                    await self.client.request("GET", "/version", retries=0)
            await asyncio.sleep(period)

    def health(self) -> dict[str, Any]:
        return {
            "identity": self.settings.identity,
            "leader": self.elector.is_leader,
            "blind": self.blind,
            "listed": self.index.listed,
            "nodes": len(self.index),
        }

    async def start(self) -> None:
        self._tasks.append(
            asyncio.create_task(self.await_lists_forever(), name="obt initial lists")
        )
        self._tasks.append(asyncio.create_task(self.elector.run(), name="obt leader election"))
        self._tasks.append(asyncio.create_task(self.sweep_forever(), name="obt sweep"))
        self._tasks.append(asyncio.create_task(self.probe_forever(), name="obt api probe"))
        if self.settings.listen:
            host, _, port = self.settings.listen.rpartition(":")
            app = health_app(
                self.metrics,
                self.health,
                stale_after=max(30.0, 10 * self.config.sweep_interval_seconds),
            )
            self._site = web.AppRunner(app, access_log=None)
            await self._site.setup()
            await web.TCPSite(self._site, host or "0.0.0.0", int(port)).start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.elector.release()
        if self._site is not None:
            await self._site.cleanup()
        await self.client.close()

    # Feeding from kopf ------------------------------------------------------------------------

    def on_event(self, kind: str, event: Any) -> None:
        body = event["object"]
        meta = body["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        if self._unlisted is not None:
            self._seen[kind].add(key)
        if event.get("type") == "DELETED":
            if kind == "ollamanodes":
                self.index.forget_ollamanode(key[1])
            elif kind == "nodes":
                self.index.forget_node(key[1])
            elif kind == "pods":
                self.index.forget_pod(*key)
            else:
                self.index.forget_lease(*key)
        elif kind == "ollamanodes":
            self.index.observe_ollamanode(body)
        elif kind == "nodes":
            self.index.observe_node(body)
        elif kind == "pods":
            self.index.observe_pod(body)
        else:
            # kopf marks events of its initial list with type None: such a Lease exists, it was
            # not just renewed.
            self.index.observe_lease(body, self.now(), initial=event.get("type") is None)

    # Completeness of the initial lists ------------------------------------------------------

    def _list_paths(self) -> dict[str, str]:
        from urllib.parse import quote

        from obt.core.models import GROUP, PLURAL, VERSION
        from obt.core.names import STANDALONE_LEASE_LABEL

        return {
            "ollamanodes": f"/apis/{GROUP}/{VERSION}/{PLURAL}",
            "nodes": "/api/v1/nodes",
            "pods": f"/api/v1/pods?labelSelector={quote(self.settings.agent_selector)}",
            "leases": "/apis/coordination.k8s.io/v1/leases?labelSelector="
            + quote(STANDALONE_LEASE_LABEL),
        }

    async def _await_lists(self) -> None:
        """List every watched resource once ourselves (names only kept), then mark the index
        complete once kopf has delivered each of those objects (or their deletion). Until then
        nothing is judged: an object not delivered yet is not an object that is gone."""
        expected: dict[str, set[tuple[str, str]]] = {}
        for kind, path in self._list_paths().items():
            names: set[tuple[str, str]] = set()
            cont = ""
            while True:
                sep = "&" if "?" in path else "?"
                page = await self.client.request("GET", f"{path}{sep}limit=500{cont}")
                for item in (page or {}).get("items") or []:
                    meta = item["metadata"]
                    names.add((meta.get("namespace") or "", meta["name"]))
                token = ((page or {}).get("metadata") or {}).get("continue")
                if not token:
                    break
                cont = f"&continue={token}"
            expected[kind] = names
        self._unlisted = expected
        started = time.monotonic()
        while True:
            missing = sum(len(keys - self._seen[kind]) for kind, keys in expected.items())
            if missing == 0:
                break
            if time.monotonic() - started > 120:
                log.warning(
                    "%d listed objects never arrived through the watch; judging anyway", missing
                )
                break
            await asyncio.sleep(0.1)
        self._unlisted = None
        self._seen.clear()
        self.index.listed = True
        log.info("index complete: %d OllamaNodes", len(self.index))

    async def await_lists_forever(self) -> None:
        while True:
            try:
                await self._await_lists()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("could not list the watched resources (retrying): %s", error)
                await asyncio.sleep(1.0)
