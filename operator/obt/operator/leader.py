"""Lease-based leader election (coordination.k8s.io/v1), as client-go's leaderelection does it.

Why not kopf's peering: it picks the active replica by priority, and replicas with equal priority
all freeze (kopf pauses every operator that sees a peer with the same priority) - the normal case for
a Deployment with two identical replicas. A Lease gives exactly one writer and a bounded takeover.

Rules: the holder renews `spec.renewTime` every renew period (one small write, whatever the fleet
size); the others read the Lease every retry period; it writes only while its last
successful renewal is younger than the renew deadline (so it stops before anyone may take over).
Another replica takes over when it has seen the Lease *unchanged* for the lease duration on its own
clock (never comparing renewTime to its clock: clocks differ between machines). Conflicting writes
(409 on a stale resourceVersion) mean someone else won this round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timezone
from typing import Any

from obt.operator.kube import ApiError, KubeClient

log = logging.getLogger(__name__)


def _micro_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        renew_period: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.client = client
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.renew_period = renew_period
        self.enabled = enabled
        self._renewed_at: float | None = None  # monotonic, of our last successful renewal
        self._seen: tuple[Any, ...] | None = None  # the other holder's record, as last seen
        self._seen_at = 0.0  # monotonic, when that record last changed
        self.transitions = 0

    @property
    def is_leader(self) -> bool:
        if not self.enabled:
            return True
        return (
            self._renewed_at is not None
            and time.monotonic() - self._renewed_at < self.renew_deadline
        )

    async def run(self) -> None:
        while True:
            try:
                await self.try_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # The API may be down: keep trying; leadership lapses by its deadline meanwhile.
                log.debug("leader election round failed: %s", error)
            await asyncio.sleep(self.renew_period if self.is_leader else self.retry_period)

    async def try_once(self) -> None:
        if not self.enabled:
            return
        was_leader = self.is_leader
        lease = await self.client.request("GET", self.path, retries=0)
        now = time.monotonic()
        if lease is None:
            await self._write("POST", self.collection, self._body(None, transitions=0))
            return
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        if record != self._seen:
            self._seen, self._seen_at = record, now
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.identity:
            await self._write("PUT", self.path, self._body(lease, transitions))
        elif not holder or now - self._seen_at >= self.lease_duration:
            log.info("taking over leader Lease %s from %r", self.name, holder)
            await self._write("PUT", self.path, self._body(lease, transitions + 1))
        if self.is_leader != was_leader:
            log.info("%s leader (%s)", "became" if self.is_leader else "lost", self.identity)

    def _body(self, lease: dict[str, Any] | None, transitions: int) -> dict[str, Any]:
        stamp = _micro_time()
        spec = dict((lease or {}).get("spec") or {})
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = stamp
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=max(1, round(self.lease_duration)),
            renewTime=stamp,
            leaseTransitions=transitions,
        )
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    async def _write(self, method: str, path: str, body: dict[str, Any]) -> None:
        try:
            await self.client.request(method, path, body, retries=0)
        except ApiError as error:
            if error.status == 409:  # another replica wrote first: it won this round
                return
            raise
        self._renewed_at = time.monotonic()

    async def release(self) -> None:
        """On a clean shutdown, hand the Lease over at once instead of after its duration."""
        if not self.enabled or not self.is_leader:
            return
        self._renewed_at = None
        with contextlib.suppress(Exception):
            lease = await self.client.request("GET", self.path, retries=0)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                body = self._body(lease, int(lease["spec"].get("leaseTransitions") or 0))
                body["spec"]["holderIdentity"] = None
                await self.client.request("PUT", self.path, body, retries=0)
