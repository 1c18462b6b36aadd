"""Every write of the operator: OllamaNode statuses, removals, and the Events that report them
(the sweep's), task and model-set statuses and expired tasks' deletions (the aggregator's).

`ClusterWriter` is the sweep's `Writer` (sweep.py) and the aggregator's `WorkWriter`
(aggregate.py) in production. It keeps the index in step with what it wrote, so the next round
does not write the same change again before the watch delivers it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from obt.core.kinds.ollamamodelset import OLLAMAMODELSET
from obt.core.kinds.ollamatask import OLLAMATASK
from obt.core.kube import ApiError, KubeClient
from obt.core.liveness import LivenessConfig, RemovalGuard
from obt.core.models import GROUP, PLURAL, VERSION
from obt.operator import events
from obt.operator.aggregate import Transition
from obt.operator.index import TASK, FleetIndex, NodeEntry, WorkEntry, WorkKind
from obt.operator.metrics import OperatorMetrics
from obt.operator.settings import OperatorSettings
from obt.operator.sweep import StatusChange

log = logging.getLogger(__name__)


def ollamanode_path(name: str, subresource: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/{PLURAL}/{name}"
    return f"{path}/{subresource}" if subresource else path


def work_plural(kind: WorkKind) -> str:
    return OLLAMATASK.plural if kind == TASK else OLLAMAMODELSET.plural


class ClusterWriter:
    def __init__(
        self,
        client: KubeClient,
        index: FleetIndex,
        metrics: OperatorMetrics,
        settings: OperatorSettings,
    ) -> None:
        self.client = client
        self.index = index
        self.metrics = metrics
        self.settings = settings
        self.config: LivenessConfig = settings.operator.liveness
        self.guard_reason = "Allowed"

    async def _event(
        self,
        regarding: dict[str, str],
        reason: str,
        message: str,
        type_: str,
        now: datetime,
        namespace: str | None = None,
    ) -> None:
        await events.post(
            self.client,
            events.event_body(
                namespace=namespace or self.settings.kube.namespace,
                regarding=regarding,
                reason=reason,
                message=message,
                type_=type_,
                now=now,
                identity=self.settings.kube.identity,
            ),
        )

    async def write_status(self, change: StatusChange, now: datetime) -> None:
        entry, verdict = change.entry, change.verdict
        patch = {
            "status": {
                "phase": verdict.phase,
                "conditions": [c.to_wire() for c in change.conditions],
            }
        }
        try:
            written = await self.client.merge_patch_custom_status(
                GROUP, VERSION, PLURAL, entry.name, patch
            )
        except ApiError as error:
            if error.not_found:
                self.index.forget_ollamanode(entry.name)
            else:
                log.warning(
                    "could not write status of %s (next sweep retries): %s", entry.name, error
                )
            return
        self.index.observe_ollamanode(written)
        if change.transition:
            self.metrics.transitions.labels(verdict.phase).inc()
            log.info(
                "%s is %s (%s): %s", entry.name, verdict.phase, verdict.reason, verdict.message
            )
            await self._event(
                events.ollamanode_ref(entry.name, entry.uid),
                verdict.reason,
                f"{verdict.phase}: {verdict.message}",
                "Normal" if verdict.phase == "Ready" else "Warning",
                now,
            )

    async def delete_ollamanode(self, name: str, uid: str) -> None:
        """Delete exactly the object we judged (uid precondition: a re-created namesake survives).
        Gone already (404) counts as done."""
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": uid},
            "propagationPolicy": "Background",
        }
        try:
            await self.client.request("DELETE", ollamanode_path(name), body)
        except ApiError as error:
            if not error.not_found:
                raise
        log.info("removed OllamaNode %s (uid %s): its agent is gone", name, uid)

    async def remove(self, entry: NodeEntry, now: datetime) -> bool:
        try:
            await self.delete_ollamanode(entry.name, entry.uid)
        except ApiError as error:
            log.warning("could not remove %s (next sweep retries): %s", entry.name, error)
            return False
        self.metrics.removals.inc()
        self.index.forget_ollamanode(entry.name)
        await self._event(
            events.ollamanode_ref(entry.name, entry.uid),
            "Removed",
            f"Removed: its agent has been gone for {self.config.remove_after_seconds:g}s or more.",
            "Normal",
            now,
        )
        return True

    async def note_guard(self, guard: RemovalGuard | None, now: datetime) -> None:
        """One warning Event when mass silence starts holding removals back (not one per sweep)."""
        reason = guard.reason if guard is not None else "Allowed"
        if reason == self.guard_reason:
            return
        self.guard_reason = reason
        if reason != "MassSilence" or guard is None:
            return
        log.warning("%s", guard.message)
        await self._event(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "name": self.settings.operator.leader.lease_name,
                "namespace": self.settings.leader_namespace,
            },
            "MassSilence",
            guard.message,
            "Warning",
            now,
            namespace=self.settings.leader_namespace,
        )

    async def write_work_status(self, entry: WorkEntry, status: dict[str, Any]) -> bool:
        try:
            written = await self.client.merge_patch_custom_status(
                GROUP, VERSION, work_plural(entry.kind), entry.name, {"status": status}
            )
        except ApiError as error:
            if error.not_found:
                self.index.forget_work(entry.kind, entry.name)
            else:
                log.warning(
                    "could not write status of %s %s (retried): %s", entry.kind, entry.name, error
                )
            return False
        self.index.observe_work(entry.kind, written)
        return True

    async def delete_task(self, entry: WorkEntry) -> bool:
        """Delete exactly this task (uid precondition: a re-created namesake is new work).
        Gone already (404) counts as done."""
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": entry.uid},
            "propagationPolicy": "Background",
        }
        path = f"/apis/{GROUP}/{VERSION}/{work_plural(TASK)}/{entry.name}"
        try:
            await self.client.request("DELETE", path, body)
        except ApiError as error:
            if error.status == 409:  # another object of that name now: not ours to delete
                return True
            if not error.not_found:
                log.warning("could not delete finished task %s (retried): %s", entry.name, error)
                return False
        log.info("deleted OllamaTask %s: ttlSecondsAfterFinished has passed", entry.name)
        return True

    async def work_event(self, entry: WorkEntry, transition: Transition, now: datetime) -> None:
        await self._event(
            events.object_ref(entry.kind, entry.name, entry.uid),
            transition.reason,
            transition.message,
            transition.type,
            now,
        )
