"""kopf registrations only; each body hands off to a module testable without kopf.

Nothing here writes: index handlers and event handlers store no progress and no diff-base, so kopf
adds no annotations or finalizers, and watching a quiet fleet costs zero writes. All writes are the
sweep's (state.py), on the leader only.
"""

from __future__ import annotations

from typing import Any

import kopf

from obt.core.models import GROUP, PLURAL, VERSION
from obt.operator import startup

LEASES = ("coordination.k8s.io", "v1", "leases")


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    await startup.configure(settings, memo)


@kopf.on.login()
async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    return await startup.login(memo)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    await startup.stop(memo)


# Feeding the index. Index handlers run on every event as it arrives, before anything else, and
# kopf holds all non-index handlers until every watched resource has been listed once.


@kopf.index(GROUP, VERSION, PLURAL)
async def ollamanodes(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.state.index.observe_ollamanode(body)


@kopf.index("v1", "nodes")
async def nodes(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.state.index.observe_node(body)


@kopf.index("v1", "pods")
async def pods(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.state.index.observe_pod(body)


@kopf.index(*LEASES)
async def leases(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.state.observe_lease(body)


# Deletions (index handlers do not see them) and the "all listed" signal.


@kopf.on.event(GROUP, VERSION, PLURAL)
async def ollamanode_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event("ollamanodes", event)


@kopf.on.event("v1", "nodes")
async def node_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event("nodes", event)


@kopf.on.event("v1", "pods")
async def pod_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event("pods", event)


@kopf.on.event(*LEASES)
async def lease_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event("leases", event)


@kopf.on.event("v1", "namespaces")
async def namespace_event(memo: kopf.Memo, **_: Any) -> None:
    memo.state.on_event("namespaces", None)
