"""Feeding the index from kopf's watch events, and knowing when its initial lists are complete.

Until every object that existed at start has been delivered (or its deletion), absence from the
index means nothing, and the sweep judges nobody (`FleetIndex.listed`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from obt.core.kinds.ollamamodelset import OLLAMAMODELSET
from obt.core.kinds.ollamatask import OLLAMATASK
from obt.core.kube import ApiError, KubeClient
from obt.core.models import GROUP, PLURAL, VERSION
from obt.core.names import STANDALONE_LEASE_LABEL
from obt.operator.index import MODELSET, TASK, FleetIndex, WorkKind

WORK_KINDS: dict[str, WorkKind] = {OLLAMATASK.plural: TASK, OLLAMAMODELSET.plural: MODELSET}
"""The watched plurals of tasks and model sets, and their kinds."""

log = logging.getLogger(__name__)

LIST_PATIENCE_SECONDS = 120.0
"""How long listed objects may take to arrive through the watch before judging starts anyway."""


class IndexFeed:
    def __init__(
        self,
        index: FleetIndex,
        client: KubeClient,
        agent_selector: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.index = index
        self.client = client
        self.agent_selector = agent_selector
        self.now = clock
        self._unlisted: dict[str, set[tuple[str, str]]] | None = {}
        self._seen: collections.defaultdict[str, set[tuple[str, str]]] = collections.defaultdict(
            set
        )

    def on_event(self, kind: str, event: Any) -> None:
        body = event["object"]
        meta = body["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        if self._unlisted is not None:
            self._seen[kind].add(key)
        work = WORK_KINDS.get(kind)
        if work is not None:
            if event.get("type") == "DELETED":
                self.index.forget_work(work, key[1])
            else:
                self.index.observe_work(work, body)
        elif event.get("type") == "DELETED":
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

    def list_paths(self) -> dict[str, str]:
        return {
            "ollamanodes": f"/apis/{GROUP}/{VERSION}/{PLURAL}",
            **{plural: f"/apis/{GROUP}/{VERSION}/{plural}" for plural in WORK_KINDS},
            "nodes": "/api/v1/nodes",
            "pods": f"/api/v1/pods?labelSelector={quote(self.agent_selector)}",
            "leases": "/apis/coordination.k8s.io/v1/leases?labelSelector="
            + quote(STANDALONE_LEASE_LABEL),
        }

    async def await_lists(self) -> None:
        """List every watched resource once ourselves (names only kept), then mark the index
        complete once kopf has delivered each of those objects (or their deletion)."""
        expected: dict[str, set[tuple[str, str]]] = {}
        for kind, path in self.list_paths().items():
            names: set[tuple[str, str]] = set()
            cont = ""
            while True:
                sep = "&" if "?" in path else "?"
                try:
                    page = await self.client.request("GET", f"{path}{sep}limit=500{cont}")
                except ApiError as error:
                    if error.status == 403 and kind in WORK_KINDS:
                        # An RBAC older than the operator: liveness must not wait for it.
                        log.warning(
                            "may not list %s (%s): their statuses are not written", kind, error
                        )
                    elif not error.not_found:
                        raise
                    page = {}  # no such resource (yet): nothing of it to wait for
                for item in page.get("items") or []:
                    meta = item["metadata"]
                    names.add((meta.get("namespace") or "", meta["name"]))
                token = (page.get("metadata") or {}).get("continue")
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
            if time.monotonic() - started > LIST_PATIENCE_SECONDS:
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
                await self.await_lists()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("could not list the watched resources (retrying): %s", error)
                await asyncio.sleep(1.0)
