"""Kubernetes mode: the agent keeps its own node's OllamaNode, writing only what changed.

- On start it reads its Node (for the ownerReference uid) and its OllamaNode, creating the
  OllamaNode if missing, and takes the digest of the status already stored: a restarted agent
  whose findings equal what is stored writes nothing.
- It merge-patches `/status` only when `AgentReport.digest()` differs from the last digest it
  wrote or read: no heartbeat writes (liveness comes from the Node and the agent pod's readiness).
- Every `api_check_interval` it reads its object from the API server's watch cache
  (resourceVersion=0, no etcd read) to notice a wiped status or a recreated object, and to know
  that the API server answers (for /readyz). While requests fail it retries every cycle.
- With work on (`KubeWork`), it also watches tasks and model sets, runs the Worker, writes
  `status.activity` on its own budget, and copies the Node's labels (reporters/kube_work.py).
- A 429 (or any answer carrying Retry-After) makes it send nothing until the time the API server
  asked for has passed, bounded by `max_retry_after` so a bogus header cannot silence the agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from obt.agent.health import Health
from obt.agent.reporters.kube_work import KubeWork, copied_labels
from obt.core.kube import ApiError, KubeClient
from obt.core.models import API_VERSION, GROUP, KIND, PLURAL, VERSION
from obt.core.names import SOURCE_LABEL
from obt.core.report import AgentReport
from obt.core.telemetry import Telemetry

log = logging.getLogger(__name__)

# Upper bound on a server-requested pause (kube-apiserver sends 1 s for priority-and-fairness
# rejections; anything far larger is more likely a misconfigured proxy than a real request).
MAX_RETRY_AFTER = 60.0


def stored_digest(obj: dict[str, Any]) -> str | None:
    """Digest of the agent's part of a stored object's status, None when there is none."""
    status = obj.get("status") or {}
    if not status.get("hardware") and not status.get("ollama"):
        return None
    try:
        report = AgentReport.model_validate(
            {k: status[k] for k in ("hardware", "ollama", "agent") if status.get(k) is not None}
        )
    except ValueError:
        return None
    return report.digest()


class KubernetesReporter:
    def __init__(
        self,
        kube: KubeClient,
        node_name: str,
        health: Health,
        clock: Callable[[], float],
        check_interval: float = 60.0,
        max_retry_after: float = MAX_RETRY_AFTER,
        work: KubeWork | None = None,
    ) -> None:
        self.kube = kube
        self.node_name = node_name
        self.health = health
        self.clock = clock
        self.check_interval = check_interval
        self.pending: AgentReport | None = None
        self.written_digest: str | None = None
        self.ensured = False
        self.next_check = 0.0
        self.failing = False
        self.max_retry_after = max_retry_after
        self.backoff_until = 0.0  # no request before this clock() value (Retry-After)
        self.work = work

    def offer(self, report: AgentReport, telemetry: Telemetry | None = None) -> None:
        """`telemetry` is not written: live figures stay on /metrics (no writes while idle)."""
        self.pending = report
        if self.work is not None:
            self.work.worker.set_loaded([m.name for m in report.ollama.loaded])
            self.work.worker.set_report(report)
            self.work.worker.mark_inventory_stale()

    def next_due(self) -> float:
        if self.backoff_until > self.clock():
            return self.backoff_until
        if self.work is not None and self.ensured:
            due = min(self.next_check, self.work.worker.next_due())
            if self._report_unsent():
                due = min(due, self._budget_free_at())
            return due
        return self.next_check

    def _report_unsent(self) -> bool:
        return self.pending is not None and self.pending.digest() != self.written_digest

    def _budget_free_at(self) -> float:
        """While work runs, report and activity share one write budget (one status write per
        5 s): a report waits for it, and carries the activity along (see _write)."""
        return self.work.worker.budget_free_at() if self.work is not None else 0.0

    @property
    def wakeup(self) -> asyncio.Event | None:
        """Set when work arrives or a step ends: the loop comes round at once."""
        return self.work.worker.wakeup if self.work is not None else None

    def take_detect_request(self) -> bool:
        """True once after a step finished: detect now, so status.ollama shows the change."""
        return self.work is not None and self.work.worker.take_finished()

    async def step(self) -> bool:
        """Do what is due; True when the latest report is stored."""
        now = self.clock()
        if now < self.backoff_until:
            return False  # the API server asked us to wait: send nothing until then
        try:
            if not self.ensured:
                await self._ensure()
            elif now >= self.next_check or self.failing:
                await self._check()
            if self._report_unsent() and self.clock() >= self._budget_free_at():
                assert self.pending is not None
                await self._write(self.pending)
            if self.work is not None:
                await self.work.worker.step()
        except ApiError as exc:
            self._failed(exc)
            return False
        self.failing = False
        self.health.api_ok()
        return self.pending is None or self.pending.digest() == self.written_digest

    def _failed(self, exc: ApiError) -> None:
        self.failing = True
        self.health.api_failed(str(exc))
        if exc.retry_after is not None:
            wait = min(max(exc.retry_after, 0.0), self.max_retry_after)
            self.backoff_until = self.clock() + wait
            log.warning("kubernetes: %s; retrying in %.1fs (Retry-After)", exc, wait)
        else:
            log.warning("kubernetes: %s", exc)
        if exc.not_found:
            self.ensured = False  # the object (or the CRD) went away: create it again

    async def _ensure(self) -> None:
        try:
            obj = await self.kube.get_custom(GROUP, VERSION, PLURAL, self.node_name)
        except ApiError as exc:
            if not exc.not_found:
                raise
            obj = await self._create()
            created = True
        else:
            created = False
        if self.work is not None:
            self.work.start(obj)
            if not created:  # (a new object got the labels at creation)
                await self.work.sync_labels(obj)
        self.written_digest = stored_digest(obj)
        self.ensured = True
        self.next_check = self.clock() + self.check_interval

    async def _create(self) -> dict[str, Any]:
        node = await self.kube.get_node(self.node_name)
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": self.node_name,
                "labels": {
                    **(
                        copied_labels(
                            node["metadata"].get("labels") or {}, self.work.label_prefixes
                        )
                        if self.work is not None
                        else {}
                    ),
                    SOURCE_LABEL: "daemonset",
                },
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": self.node_name,
                        "uid": node["metadata"]["uid"],
                        # Not a controller, and deleting the OllamaNode never waits on the Node.
                        "controller": False,
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "spec": {"source": "daemonset", "nodeName": self.node_name},
        }
        try:
            created = await self.kube.create_custom(GROUP, VERSION, PLURAL, body)
        except ApiError as exc:
            if not exc.conflict:
                raise
            # Created meanwhile (a restarted pod racing its predecessor): use that one.
            return await self.kube.get_custom(GROUP, VERSION, PLURAL, self.node_name)
        self.health.writes += 1
        log.info(
            "kubernetes: created OllamaNode %s owned by Node uid %s",
            self.node_name,
            node["metadata"]["uid"],
        )
        return created

    async def _check(self) -> None:
        obj = await self.kube.get_custom(GROUP, VERSION, PLURAL, self.node_name, from_cache=True)
        stored = stored_digest(obj)
        if stored != self.written_digest:
            log.info("kubernetes: stored status differs from the last write; re-syncing")
            self.written_digest = stored
        self.next_check = self.clock() + self.check_interval
        if self.work is not None:
            await self.work.sync_labels(obj)

    async def _write(self, report: AgentReport) -> None:
        digest = report.digest()
        patch = report.status_patch()
        activity = self.work.worker.written_with_report() if self.work is not None else None
        if activity is not None:
            patch["status"]["activity"] = [a.to_wire() for a in activity]
        try:
            await self.kube.merge_patch_custom_status(GROUP, VERSION, PLURAL, self.node_name, patch)
        except ApiError:
            if activity is not None and self.work is not None:
                self.work.worker.dirty = True  # not written after all: the next slot sends it
            raise
        self.written_digest = digest
        self.health.writes += 1
        log.info(
            "kubernetes: wrote status of OllamaNode %s (digest %s)", self.node_name, digest[:12]
        )

    async def close(self) -> None:
        if self.work is not None:
            await self.work.close()
        await self.kube.close()
