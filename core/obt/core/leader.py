"""Lease-based leader election (coordination.k8s.io/v1), as client-go's leaderelection does it.

Shared by the operator (one active replica writes conditions and removes nodes) and the API (one
replica runs the mirror). Why not kopf's peering for the operator: it picks the active replica by
priority, and replicas of equal priority all freeze - the normal case for a Deployment with two
identical replicas. A Lease gives exactly one writer and a bounded takeover.

Rules: the holder renews `spec.renewTime` every renew period (one small write, whatever the fleet
size); the others read the Lease every retry period. The holder counts as leader only while its
last successful renewal is younger than the renew deadline, which is shorter than the lease
duration, so it stops writing before anyone may take over. Another replica takes over once it has
seen the Lease record *unchanged* for the lease duration on its own monotonic clock: renewTime is
never compared with the local clock, because clocks of different machines differ. Writes carry the
resourceVersion that was read, so a 409 means another replica wrote first and won the round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timezone
from typing import Any

from obt.core.kube import ApiError, JsonObject, KubeClient

log = logging.getLogger(__name__)


def micro_time() -> str:
    """metav1.MicroTime, as Lease timestamps are written."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Run `run()` as a task; read `is_leader` before every write that only the leader may do."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float | None = None,
        renew_period: float | None = None,
        retry_period: float | None = None,
        enabled: bool = True,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        # client-go's defaults keep these ratios (15 s / 10 s / 2 s): deadline well inside the
        # duration, renewals several times per deadline.
        self.renew_deadline = (
            renew_deadline if renew_deadline is not None else lease_duration * 2 / 3
        )
        self.renew_period = renew_period if renew_period is not None else lease_duration / 3
        self.retry_period = (
            retry_period if retry_period is not None else max(0.2, lease_duration / 6)
        )
        self.enabled = enabled
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.path = f"{self.collection}/{name}"
        self.changed = asyncio.Event()  # set on every gain or loss of leadership
        self.transitions = 0  # gains and losses seen by this replica
        self.holder: str | None = None  # the holder as last read
        self._renewed_at: float | None = None  # monotonic, when our last renewal was sent
        self._seen: tuple[Any, ...] | None = None  # the Lease record as last read
        self._seen_at = 0.0  # monotonic, when that record last changed

    @property
    def is_leader(self) -> bool:
        if not self.enabled:
            return True
        return (
            self._renewed_at is not None
            and time.monotonic() - self._renewed_at < self.renew_deadline
        )

    async def run(self) -> None:
        was = self.is_leader
        failing = False
        while True:
            try:
                await self.try_once()
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as error:  # API server away: leadership lapses by its deadline
                (log.debug if failing else log.warning)("leader election failed: %s", error)
                failing = True
            was = self._note_change(was)
            await asyncio.sleep(self.renew_period if was else self.retry_period)
            was = self._note_change(was)

    def _note_change(self, was: bool) -> bool:
        now = self.is_leader
        if now != was:
            log.info(
                "%s leader of Lease %s (%s)", "became" if now else "lost", self.name, self.identity
            )
            self.transitions += 1
            self.changed.set()
        return now

    async def _request(self, method: str, path: str, body: JsonObject | None) -> JsonObject:
        # No retries inside a round: a 409 means another replica won it, and the next round comes
        # within a retry period anyway.
        return await self.client.request(method, path, body, retries=0)

    async def _get(self) -> JsonObject | None:
        try:
            return await self._request("GET", self.path, None)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def try_once(self) -> None:
        """One round: create, renew or take over the Lease, or note that someone else holds it."""
        if not self.enabled:
            return
        lease = await self._get()
        now = time.monotonic()
        if lease is None:
            await self._write("POST", self.collection, self._body(None, 0))
            return
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        self.holder = holder
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        if record != self._seen:
            self._seen, self._seen_at = record, now
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.identity:
            await self._write("PUT", self.path, self._body(lease, transitions))
        elif not holder or now - self._seen_at >= self.lease_duration:
            log.info("taking over Lease %s/%s from %r", self.namespace, self.name, holder)
            await self._write("PUT", self.path, self._body(lease, transitions + 1))
        else:
            self._renewed_at = None

    def _body(self, lease: JsonObject | None, transitions: int) -> JsonObject:
        stamp = micro_time()
        spec = dict((lease or {}).get("spec") or {})
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = stamp
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=max(1, round(self.lease_duration)),
            renewTime=stamp,
            leaseTransitions=transitions,
        )
        metadata: JsonObject = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    async def _write(self, method: str, path: str, body: JsonObject) -> None:
        started = time.monotonic()  # measured from before the write: conservative
        try:
            await self._request(method, path, body)
        except ApiError as error:
            if error.conflict:  # stale resourceVersion, or created by another replica
                self._renewed_at = None
                return
            raise
        self._renewed_at = started
        self.holder = self.identity

    async def release(self) -> None:
        """On a clean shutdown, give the Lease up now instead of after its duration."""
        if not self.enabled or not self.is_leader:
            return
        self._renewed_at = None
        self.changed.set()
        with contextlib.suppress(Exception):
            lease = await self._get()
            spec = (lease or {}).get("spec") or {}
            if lease is not None and spec.get("holderIdentity") == self.identity:
                body = self._body(lease, int(spec.get("leaseTransitions") or 0))
                body["spec"]["holderIdentity"] = None
                await self._request("PUT", self.path, body)
