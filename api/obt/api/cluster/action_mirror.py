"""List + watch OllamaTasks and OllamaModelSets into their tables (actions/store.py).

The node mirror's loop (cluster/mirror.py: relist and sweep, watch from the list's
resourceVersion, 410 -> relist, backoff, leader only) with another collection and another write:
the objects are few, so each batch is written object by object in one transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from obt.api.actions.store import ActionStore
from obt.api.cluster.mirror import Mirror, NotLeader
from obt.api.db.engine import write_session
from obt.core.kube import ApiError, custom_path
from obt.core.names import GROUP, VERSION

log = logging.getLogger(__name__)


class ActionMirror(Mirror):
    def __init__(self, actions: ActionStore, kind: str, plural: str, *args: Any, **kw: Any) -> None:
        super().__init__(*args, path=custom_path(GROUP, VERSION, plural), **kw)
        self.actions = actions
        self.kind = kind
        self.absent = False  # the kind's CRD was missing at the last list

    async def relist(self) -> str:
        """As the node mirror's, but a kind whose CRD is not installed (an older chart) is not
        a reason to stay unready: there is nothing to mirror until it appears (retried with
        the mirror's backoff)."""
        try:
            found = await super().relist()
        except ApiError as exc:
            if exc.status != 404:
                raise
            if not self.absent:
                log.warning(
                    "%s: its CRD is not installed; nothing to mirror until it is", self.kind
                )
            self.absent = True
            self.synced = True
            raise
        self.absent = False
        return found

    async def apply(self, changes: list[tuple[str, dict[str, Any]]]) -> int:
        if not changes:
            return 0
        latest: dict[str, tuple[str, dict[str, Any]]] = {}
        for change, obj in changes:
            name = obj["metadata"]["name"]
            latest.pop(name, None)
            latest[name] = (change, obj)
        upserts = [obj for change, obj in latest.values() if change != "DELETED"]
        deleted = [name for name, (change, _) in latest.items() if change == "DELETED"]
        async with write_session(self.actions.sessions) as session:
            events, work = await self.actions.upsert_in(session, self.kind, upserts)
            events += await self.actions.remove_in(session, self.kind, deleted)
            if not self.is_leader():
                raise NotLeader()  # rolls the transaction back
            await self.actions.commit_events(session, events, work=work or bool(deleted))
        self.actions.after_commit(events)
        return len(events)

    async def sweep(self, listed: set[str]) -> int:
        gone = sorted(await self.actions.names(self.kind) - listed)
        if not gone:
            return 0
        async with write_session(self.actions.sessions) as session:
            events = await self.actions.remove_in(session, self.kind, gone)
            if not self.is_leader():
                raise NotLeader()
            await self.actions.commit_events(session, events, work=bool(events))
        self.actions.after_commit(events)
        self.stats.swept += len(gone)
        return len(gone)
