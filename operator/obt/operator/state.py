"""The operator's shared state (kept in kopf's `memo`): settings, index, client, election, loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from obt.core.liveness import LivenessConfig
from obt.operator import cleanup, events
from obt.operator.index import FleetIndex, NodeEntry
from obt.operator.kube import ApiError, Connection, KubeClient
from obt.operator.leader import LeaderElector
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
            self.client,
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

    def observe_lease(self, body: Any) -> None:
        # Before kopf has listed everything, a Lease seen for the first time comes from the initial
        # list (it shows the Lease exists, not that it was just renewed).
        self.index.observe_lease(body, self.now(), initial=not self.index.listed)

    def on_event(self, kind: str, event: Any) -> None:
        """kopf calls event handlers only once every indexed resource has been listed: the first
        call says "the index is complete", so a missing pod from now on really is missing."""
        self.index.listed = True
        if event is None or event.get("type") != "DELETED":
            return
        meta = event["object"]["metadata"]
        if kind == "ollamanodes":
            self.index.forget_ollamanode(meta["name"])
        elif kind == "nodes":
            self.index.forget_node(meta["name"])
        elif kind == "pods":
            self.index.forget_pod(meta.get("namespace", ""), meta["name"])
        elif kind == "leases":
            self.index.forget_lease(meta.get("namespace", ""), meta["name"])
