"""The operator's parts wired together (kept in kopf's `memo`): client, index, feed, election,
writer, sweep, aggregator and health, and the tasks that run them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from obt.core.kube import KubeClient, KubeConfig
from obt.core.leader import LeaderElector
from obt.operator.aggregate import Aggregator
from obt.operator.feed import IndexFeed
from obt.operator.health import HealthServer, health_app
from obt.operator.index import FleetIndex
from obt.operator.metrics import OperatorMetrics
from obt.operator.settings import OperatorSettings
from obt.operator.sweep import Sweeper
from obt.operator.writer import ClusterWriter

log = logging.getLogger(__name__)

WRITE_RETRIES = 2
"""Tries after the first for 409/429/5xx answers (a sweep retries later anyway)."""
CONNECTIONS = 20
"""Parallel connections to the API server (status writes run 16 at a time)."""


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class OperatorRuntime:
    def __init__(
        self,
        settings: OperatorSettings,
        config: KubeConfig,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.now = clock
        self.index = FleetIndex(baseline=clock(), namespace=settings.kube.namespace)
        self.client = KubeClient(
            config,
            settings.user_agent,
            settings.operator.request_timeout_seconds,
            retries=WRITE_RETRIES,
            connections=CONNECTIONS,
        )
        leader = settings.operator.leader
        self.elector = LeaderElector(
            self.client,
            settings.leader_namespace,
            leader.lease_name,
            settings.kube.identity,
            lease_duration=leader.lease_duration_seconds,
            renew_deadline=leader.renew_deadline_seconds,
            retry_period=leader.retry_period_seconds,
            renew_period=leader.renew_period_seconds,
            enabled=leader.enabled,
        )
        self.metrics = OperatorMetrics()
        self.feed = IndexFeed(self.index, self.client, settings.operator.agent_selector, clock)
        self.writer = ClusterWriter(self.client, self.index, self.metrics, settings)
        self.sweeper = Sweeper(
            self.index,
            settings.operator.liveness,
            self.writer,
            self.metrics,
            last_answer=lambda: self.client.last_ok,
            is_leader=lambda: self.elector.is_leader,
            clock=clock,
        )
        self.aggregator = Aggregator(
            self.index,
            self.writer,
            self.metrics,
            may_write=lambda: self.elector.is_leader and not self.sweeper.blind,
            clock=clock,
        )
        self.health = HealthServer(
            health_app(
                self.metrics,
                self.status,
                stale_after=max(30.0, 10 * settings.operator.liveness.sweep_interval_seconds),
            ),
            settings.operator.listen,
        )
        self._tasks: list[asyncio.Task[Any]] = []

    def on_event(self, kind: str, event: Any) -> None:
        self.feed.on_event(kind, event)

    def status(self) -> dict[str, Any]:
        return {
            "identity": self.settings.kube.identity,
            "leader": self.elector.is_leader,
            "blind": self.sweeper.blind,
            "listed": self.index.listed,
            "nodes": len(self.index),
            "tasks": len(self.index.tasks),
            "modelsets": len(self.index.modelsets),
        }

    async def probe_forever(self) -> None:
        """Keep `client.last_ok` meaningful when nothing else talks to the API server for a while
        (no election, no writes): a cheap GET /version whenever the last answer is getting old."""
        period = self.settings.operator.liveness.blind_after_seconds / 3
        while True:
            if time.monotonic() - self.client.last_ok > period:
                with contextlib.suppress(Exception):
                    await self.client.request("GET", "/version", retries=0)
            await asyncio.sleep(period)

    async def start(self) -> None:
        for coroutine, name in (
            (self.feed.await_lists_forever(), "obt initial lists"),
            (self.elector.run(), "obt leader election"),
            (self.sweeper.run_forever(), "obt sweep"),
            (self.aggregator.run_forever(), "obt task and model-set statuses"),
            (self.probe_forever(), "obt api probe"),
        ):
            self._tasks.append(asyncio.create_task(coroutine, name=name))
        await self.health.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.elector.release()
        await self.health.stop()
        await self.client.close()
