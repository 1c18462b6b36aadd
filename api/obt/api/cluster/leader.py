"""Lease-based leader election for the API's mirror (coordination.k8s.io/v1 Lease).

The same rules as client-go's leaderelection (and the operator's elector, which the API may not
import: import-linter keeps obt.api and obt.operator independent, and that one is bound to the
operator's own client): the holder renews `spec.renewTime` every renew period; it counts as leader
only while its last successful write is younger than the renew deadline (shorter than the lease
duration, so it stops writing before anyone may take over). A follower takes over once it has
seen the Lease record *unchanged* for the lease duration on its own monotonic clock (clocks of
different machines are never compared). Writes carry the read resourceVersion: a 409 means another
replica wrote first and won the round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timezone
from typing import Any

from obt.core.kube import ApiError, KubeClient

log = logging.getLogger(__name__)


def micro_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = lease_duration * 2 / 3
        self.renew_period = lease_duration / 3
        self.retry_period = max(0.2, lease_duration / 6)
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._renewed_at: float | None = None
        self._seen: tuple[Any, ...] | None = None
        self._seen_at = 0.0
        self.changed = asyncio.Event()  # set on every gain or loss of leadership
        self.transitions = 0
        self.holder: str | None = None

    @property
    def is_leader(self) -> bool:
        return (
            self._renewed_at is not None
            and time.monotonic() - self._renewed_at < self.renew_deadline
        )

    async def run(self) -> None:
        was = False
        failing = False
        while True:
            try:
                await self.try_once()
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as error:  # API server down: leadership lapses by its deadline
                (log.debug if failing else log.warning)("leader election failed: %s", error)
                failing = True
            now = self.is_leader
            if now != was:
                log.info("%s mirror leader (%s)", "became" if now else "lost", self.identity)
                self.transitions += 1
                self.changed.set()
                was = now
            # A leader re-checks at least once per renew period and before its deadline lapses.
            await asyncio.sleep(self.renew_period if now else self.retry_period)
            if was and not self.is_leader:
                # The deadline lapsed while sleeping (a stalled loop): that is a loss, and the
                # next successful renewal is a new gain, both announced.
                log.info("lost mirror leader (%s): renew deadline passed", self.identity)
                self.transitions += 1
                self.changed.set()
                was = False

    async def try_once(self) -> None:
        try:
            lease: dict[str, Any] | None = await self.client.request("GET", self.path)
        except ApiError as error:
            if not error.not_found:
                raise
            lease = None
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

    def _body(self, lease: dict[str, Any] | None, transitions: int) -> dict[str, Any]:
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
        started = time.monotonic()
        try:
            await self.client.request(method, path, body)
        except ApiError as error:
            if error.conflict:  # someone else wrote first (stale resourceVersion, or created)
                self._renewed_at = None
                return
            raise
        self._renewed_at = started  # measured from before the write: conservative
        self.holder = self.identity

    async def release(self) -> None:
        """Clean shutdown: give the Lease up now instead of after its duration."""
        if not self.is_leader:
            return
        self._renewed_at = None
        self.changed.set()
        with contextlib.suppress(Exception):
            lease = await self.client.request("GET", self.path)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") == self.identity:
                body = self._body(lease, int(spec.get("leaseTransitions") or 0))
                body["spec"]["holderIdentity"] = None
                await self.client.request("PUT", self.path, body)
