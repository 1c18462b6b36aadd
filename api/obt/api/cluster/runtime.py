"""Cluster mode wiring: leader election + mirror + standalone writer, owned by the app's lifespan.

Every replica runs the elector and serves reads from the shared database; only the leader runs the
mirror (list + watch + writes) and deletes the Leases of removed standalone hosts. Every replica's ingress writes standalone OllamaNodes and Leases
(Kubernetes serialises those writes; the rows come back through the leader's mirror).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from obt.api.actions.store import MODELSET, TASK, ActionStore
from obt.api.cluster.action_mirror import ActionMirror
from obt.api.cluster.kube import WatchStream, make_client, user_agent
from obt.api.cluster.mirror import Mirror, NotLeader, cancel
from obt.api.cluster.standalone import StandaloneWriter
from obt.api.nodes.store import NodeStore
from obt.api.settings import ClusterGroup
from obt.core.kinds.ollamamodelset import OLLAMAMODELSET
from obt.core.kinds.ollamatask import OLLAMATASK
from obt.core.leader import LeaderElector
from obt.core.settings import KubeSettings

log = logging.getLogger(__name__)


class ClusterRuntime:
    def __init__(
        self,
        kube: KubeSettings,
        cluster: ClusterGroup,
        store: NodeStore,
        actions: ActionStore | None = None,
    ) -> None:
        self.settings = cluster
        self.identity = kube.identity
        self.client = make_client(kube.kubeconfig, self.identity, kube.context)
        self.elector = LeaderElector(
            self.client,
            kube.namespace,
            cluster.leader_lease_name,
            self.identity,
            lease_duration=float(cluster.leader_lease_seconds),
        )
        self.stream = WatchStream(
            self.client.config,
            user_agent(self.identity),
            cluster.watch_timeout_seconds + 30.0,
            # Three watches (OllamaNodes, OllamaTasks, OllamaModelSets) and a spare.
            connections=4,
        )
        self.standalone = StandaloneWriter(
            self.client,
            kube.namespace,
            self.identity,
            min_interval_s=cluster.lease_renew_min_seconds,
        )
        self.mirror = Mirror(
            store,
            self.client,
            self.stream,
            is_leader=lambda: self.elector.is_leader,
            watch_timeout_s=cluster.watch_timeout_seconds,
            # A removed standalone host's Lease goes with its OllamaNode (leader only, once).
            on_removed=self.standalone.delete_lease,
        )
        # Tasks and model sets, mirrored by the same leader into their tables.
        self.action_mirrors = [
            ActionMirror(
                actions,
                kind,
                plural,
                store,
                self.client,
                self.stream,
                is_leader=lambda: self.elector.is_leader,
                watch_timeout_s=cluster.watch_timeout_seconds,
            )
            for kind, plural in ((TASK, OLLAMATASK.plural), (MODELSET, OLLAMAMODELSET.plural))
            if actions is not None
        ]
        self._tasks: list[asyncio.Task[Any]] = []
        self._mirror_task: asyncio.Task[None] | None = None

    @property
    def role(self) -> str:
        return "leader" if self.elector.is_leader else "follower"

    def readiness(self) -> tuple[bool, str]:
        """(ready, words): a leader is ready once its first list is written; a follower is
        ready at once (it serves reads of the shared database and stands by)."""
        if self.elector.is_leader:
            synced = self.mirror.synced and all(m.synced for m in self.action_mirrors)
            if self._mirror_task is not None and synced:
                return True, "ok (mirror leader, synced)"
            return False, "mirror leader, syncing"
        return True, f"ok (mirror standby; leader {self.elector.holder or 'unknown'})"

    def start(self) -> None:
        self.standalone.start()
        self._tasks.append(asyncio.create_task(self.elector.run(), name="mirror-leader"))
        self._tasks.append(asyncio.create_task(self._follow_leadership(), name="mirror-lead"))

    async def _follow_leadership(self) -> None:
        while True:
            await self.elector.changed.wait()
            self.elector.changed.clear()
            if self.elector.is_leader and self._mirror_task is None:
                log.info("mirror: leading, listing OllamaNodes")
                self._mirror_task = asyncio.create_task(self._lead(), name="mirror")
            elif not self.elector.is_leader and self._mirror_task is not None:
                log.info("mirror: lost leadership, standing by")
                await cancel(self._mirror_task)
                self._mirror_task = None
                for mirror in (self.mirror, *self.action_mirrors):
                    mirror.synced = False

    async def _lead(self) -> None:
        try:
            await _all_or_none([self.mirror.run(), *(m.run() for m in self.action_mirrors)])
        except NotLeader:
            for mirror in (self.mirror, *self.action_mirrors):
                mirror.synced = False
            self._mirror_task = None
            self.elector.changed.set()

    async def stop(self) -> None:
        await cancel(self._mirror_task)
        self._mirror_task = None
        for task in self._tasks:
            await cancel(task)
        self._tasks.clear()
        await self.standalone.stop()
        with contextlib.suppress(Exception):
            await self.elector.release()
        await self.stream.close()
        await self.client.close()

    def metrics(self) -> list[Any]:
        from prometheus_client.core import GaugeMetricFamily

        out = self.mirror.metrics()
        out.append(
            GaugeMetricFamily(
                "obt_api_mirror_leader", "1 while this replica leads.", value=self.elector.is_leader
            )
        )
        return out


async def _all_or_none(loops: list[Coroutine[Any, Any, None]]) -> None:
    """Run the mirrors together; the first to fail (NotLeader) stops the others and raises."""
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            await cancel(task)
