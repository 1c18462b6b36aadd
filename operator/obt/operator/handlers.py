"""kopf registrations only; each body hands off to a module testable without kopf.

Nothing here writes: index handlers and event handlers store no progress and no diff-base, so kopf
adds no annotations or finalizers, and watching a quiet fleet costs zero writes. All writes are the
sweep's (sweep.py) and the aggregator's (aggregate.py), through writer.py, on the leader only.
"""

from __future__ import annotations

from typing import Any

import kopf

from obt.core.kinds.ollamamodelset import OLLAMAMODELSET
from obt.core.kinds.ollamatask import OLLAMATASK
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


# Feeding the index: event handlers store nothing (no annotations, no finalizers) and see deletions.
# Not @kopf.index: kopf then holds every object's worker until all indexed lists are done, and that
# bookkeeping grows with the square of the object count (minutes at 5,000 nodes). Completeness of
# the initial lists is checked by feed.py instead.


@kopf.on.event(GROUP, VERSION, PLURAL)
async def ollamanode_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event("ollamanodes", event)


# Tasks and model sets: their statuses are the aggregator's (aggregate.py), from the index.
@kopf.on.event(GROUP, VERSION, OLLAMATASK.plural)
async def ollamatask_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event(OLLAMATASK.plural, event)


@kopf.on.event(GROUP, VERSION, OLLAMAMODELSET.plural)
async def ollamamodelset_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event(OLLAMAMODELSET.plural, event)


@kopf.on.event("v1", "nodes")
async def node_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event("nodes", event)


@kopf.on.event("v1", "pods")
async def pod_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event("pods", event)


@kopf.on.event(*LEASES)
async def lease_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.state.on_event("leases", event)
