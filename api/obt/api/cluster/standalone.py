"""Standalone hosts in cluster mode: their OllamaNode objects and heartbeat Leases.

The ingress (agents/) never writes node rows in cluster mode: it writes the host's OllamaNode
(spec.source=standalone, spec.hostId, label obt.dev/source=standalone) and merge-patches its
/status with `AgentReport.status_patch()` when a report's digest changed; the mirror then brings
the object into SQL like any other OllamaNode, so there is one path into the database.

Heartbeats renew the host's Lease (`obt-node-<nodeName>`, label `obt.dev/standalone-host`, see
docs/operator.md) without waiting for the API server: `renew_lease` only marks the host, and one
background loop renews the marked hosts, each at most every `min_interval_s` (heartbeats come
every 10 s, so in practice each heartbeat renews once).

Decommissioning (`obt node rm`) annotates the OllamaNode with the tombstone reason, deletes it and
deletes its Lease; the mirror's DELETED event then writes the tombstone with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from obt.api.cluster.kube import LEASES
from obt.core.kube import ApiError, KubeClient, custom_path
from obt.core.leader import micro_time
from obt.core.names import (
    GROUP,
    REMOVAL_REASON,
    SOURCE_LABEL,
    STANDALONE_LEASE_LABEL,
    VERSION,
    standalone_lease_name,
)
from obt.core.names import OLLAMANODES as PLURAL
from obt.core.report import AgentReport

log = logging.getLogger(__name__)

HOST_LABEL = STANDALONE_LEASE_LABEL


class NodeConflict(Exception):
    """The OllamaNode name is taken by a node of another source or another host."""


lease_name = standalone_lease_name


class StandaloneWriter:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        identity: str,
        *,
        min_interval_s: float = 5.0,
        tick_s: float = 0.5,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.identity = identity
        self.min_interval_s = min_interval_s
        self.tick_s = tick_s
        self._due: set[str] = set()
        self._renewed: dict[str, float] = {}  # node -> monotonic time of the last renewal
        self._known: set[str] = set()  # nodes whose OllamaNode this process has seen/created
        self._gone: set[str] = set()  # decommissioned here: a late renewal must not recreate
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.lease_writes = 0
        self.node_writes = 0

    # -- OllamaNode ---------------------------------------------------------------------
    async def ensure_node(self, name: str, spec: dict[str, Any], labels: dict[str, str]) -> None:
        """Create the host's OllamaNode, or align spec/labels of the existing one; raises
        NodeConflict when the name belongs to a daemonset node or another host."""
        labels = {**labels, SOURCE_LABEL: "standalone"}
        try:
            current = await self.client.get_custom(GROUP, VERSION, PLURAL, name)
        except ApiError as error:
            if not error.not_found:
                raise
            current = None
        if current is None:
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "OllamaNode",
                "metadata": {"name": name, "labels": labels},
                "spec": spec,
            }
            try:
                await self.client.create_custom(GROUP, VERSION, PLURAL, body)
                self.node_writes += 1
            except ApiError as error:
                if not error.conflict:
                    raise
                await self.ensure_node(name, spec, labels)  # created meanwhile: check it
                return
        else:
            have = current.get("spec") or {}
            if have.get("source") != "standalone":
                raise NodeConflict(
                    f"hostId: node {name!r} already exists as a {have.get('source')} node; "
                    "pick another hostId"
                )
            if have.get("hostId") not in (None, spec.get("hostId")):
                raise NodeConflict(
                    f"hostId: {spec.get('hostId')!r} maps to node {name!r}, enrolled by host "
                    f"{have.get('hostId')!r}"
                )
            have_labels = (current.get("metadata") or {}).get("labels") or {}
            if any(have.get(k) != v for k, v in spec.items()) or any(
                have_labels.get(k) != v for k, v in labels.items()
            ):
                await self.client.merge_patch_custom(
                    GROUP, VERSION, PLURAL, name, {"metadata": {"labels": labels}, "spec": spec}
                )
                self.node_writes += 1
        self._known.add(name)
        self._gone.discard(name)

    async def get_node(self, name: str) -> dict[str, Any] | None:
        """The OllamaNode `name`, or None when there is none."""
        try:
            return await self.client.get_custom(GROUP, VERSION, PLURAL, name)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def delete_node(self, name: str, uid: str | None, reason: str) -> bool:
        """Annotate the OllamaNode with the tombstone `reason`, then delete exactly that object
        (uid precondition). False when it was already gone."""
        self._known.discard(name)
        self._gone.add(name)
        try:
            await self.client.merge_patch_custom(
                GROUP,
                VERSION,
                PLURAL,
                name,
                {"metadata": {"annotations": {REMOVAL_REASON: reason}}},
            )
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "propagationPolicy": "Background",
            }
            if uid:
                body["preconditions"] = {"uid": uid}
            await self.client.request("DELETE", custom_path(GROUP, VERSION, PLURAL, name), body)
        except ApiError as error:
            if error.not_found:
                return False
            raise
        self.node_writes += 2
        return True

    async def write_report(
        self, name: str, spec: dict[str, Any], labels: dict[str, str], report: AgentReport
    ) -> None:
        """Called by the ingest only when the report's digest changed."""
        if name not in self._known:
            await self.ensure_node(name, spec, labels)
        try:
            await self.client.merge_patch_custom_status(
                GROUP, VERSION, PLURAL, name, report.status_patch()
            )
        except ApiError as error:
            if not error.not_found:
                raise
            # Deleted behind our back (kubectl delete, operator removal): create it again.
            self._known.discard(name)
            await self.ensure_node(name, spec, labels)
            await self.client.merge_patch_custom_status(
                GROUP, VERSION, PLURAL, name, report.status_patch()
            )
        self.node_writes += 1

    # -- Leases -------------------------------------------------------------------------
    async def renew_lease(self, name: str) -> None:
        """Never waits for the API server: marks the host for the renewal loop."""
        last = self._renewed.get(name)
        if last is not None and time.monotonic() - last < self.min_interval_s:
            return
        self._due.add(name)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="standalone-leases")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.renew_due()
            except Exception:
                log.exception("renewing standalone Leases failed; retrying")
            await asyncio.sleep(self.tick_s)

    async def renew_due(self) -> int:
        due, self._due = self._due, set()
        results = await asyncio.gather(
            *(self._renew(n) for n in sorted(due)), return_exceptions=True
        )
        failed = [n for n, r in zip(sorted(due), results, strict=True) if isinstance(r, Exception)]
        if failed:
            # Not re-queued here: the host's next heartbeat (10 s) marks it again.
            log.warning("Lease renewal failed for %d hosts: %s", len(failed), results[0])
        return len(due) - len(failed)

    async def delete_lease(self, name: str) -> None:
        """Delete the host's Lease (its OllamaNode was removed); 404 means already done.

        The host is forgotten here too, so that if it comes back its next heartbeat creates a
        fresh Lease at once and its next report re-creates the OllamaNode."""
        self._due.discard(name)
        self._renewed.pop(name, None)
        self._known.discard(name)
        group, version, plural = LEASES
        try:
            await self.client.request(
                "DELETE", custom_path(group, version, plural, lease_name(name), self.namespace)
            )
        except ApiError as error:
            if not error.not_found:
                raise
            return
        self.lease_writes += 1
        log.info("deleted Lease %s of removed standalone host %s", lease_name(name), name)

    async def _renew(self, name: str) -> None:
        if name in self._gone:
            return
        group, version, plural = LEASES
        labels = {HOST_LABEL: name[:63].rstrip("-.")}
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": 30,
            "renewTime": micro_time(),
        }
        patch = {"metadata": {"labels": labels}, "spec": spec}
        stamp = time.monotonic()
        try:
            await self.client.merge_patch_custom(
                group, version, plural, lease_name(name), patch, self.namespace
            )
        except ApiError as error:
            if not error.not_found:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": lease_name(name),
                    "namespace": self.namespace,
                    "labels": labels,
                },
                "spec": {**spec, "acquireTime": spec["renewTime"]},
            }
            await self.client.create_custom(group, version, plural, body, self.namespace)
        self._renewed[name] = stamp
        self.lease_writes += 1
