"""What one running API holds for tasks and model sets (AppState.actions)."""

from __future__ import annotations

from dataclasses import dataclass

from obt.api.actions.reconciler import LocalReconciler
from obt.api.actions.service import Backend
from obt.api.actions.store import ActionStore


@dataclass
class ActionRuntime:
    store: ActionStore
    backend: Backend  # local: the database; cluster: custom resources (service.py)
    reconciler: LocalReconciler | None = None  # local mode only (cluster: the operator)

    def start(self) -> None:
        if self.reconciler is not None:
            self.reconciler.start()

    async def stop(self) -> None:
        if self.reconciler is not None:
            await self.reconciler.stop()
