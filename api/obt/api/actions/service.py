"""Where people's tasks and model sets are written: the database (local mode) or custom
resources (cluster mode, then written through to the mirror's tables), and the checks made
before anything is stored."""

from __future__ import annotations

import re
from typing import Any, Protocol

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from obt.api.actions.store import KINDS, MODELSET, TASK, ActionStore, Conflict, random_suffix
from obt.api.db.tables import Node
from obt.core.kinds.ollamamodelset import OLLAMAMODELSET
from obt.core.kinds.ollamatask import OLLAMATASK
from obt.core.kube import ApiError, KubeClient
from obt.core.models.actions import OllamaTaskSpec
from obt.core.names import API_VERSION, GROUP, VERSION
from obt.core.selectors import format_selector, selects

PLURALS = {TASK: OLLAMATASK.plural, MODELSET: OLLAMAMODELSET.plural}


def generate_name(prefix: str, model: str) -> str:
    """`<prefix>-<first model>-<5 characters>` as a valid object name: 'pull-llama3.2-latest-x7k2q'."""
    base = re.sub(r"[^a-z0-9.-]+", "-", f"{prefix}-{model}".lower())
    base = re.sub(r"-{2,}", "-", base).strip("-.")[:200].strip("-.")
    return f"{base or prefix}-{random_suffix()}"


def unprocessable(loc: tuple[Any, ...], message: str) -> RequestValidationError:
    """A 422 in the validation errors' shape, naming the field (errors.py)."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


async def check_targets(session: AsyncSession, spec: OllamaTaskSpec) -> None:
    """422 before anything is stored: a named node that does not exist, or a selector that picks
    no node."""
    if spec.nodes is not None:
        known = set(
            (await session.execute(select(Node.name).where(Node.name.in_(spec.nodes)))).scalars()
        )
        for i, name in enumerate(spec.nodes):
            if name not in known:
                raise unprocessable(
                    ("body", "spec", "nodes", i), f"no node named {name!r} (see GET /api/v1/nodes)"
                )
        return
    rows = (await session.execute(select(Node.labels))).scalars()
    if not any(selects(spec.node_selector, labels or {}) for labels in rows):
        shown = format_selector(spec.node_selector) if spec.node_selector else ""
        raise unprocessable(
            ("body", "spec", "nodeSelector"),
            f"selects no node ({shown or 'empty selector'}); check the nodes' labels",
        )


class Backend(Protocol):
    async def create(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]: ...

    async def replace(
        self, kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None
    ) -> dict[str, Any] | None: ...

    async def cancel(self, name: str) -> dict[str, Any] | None: ...

    async def delete(self, kind: str, name: str) -> bool: ...


def _conflict(exc: Conflict) -> HTTPException:
    return HTTPException(409, str(exc))


class LocalBackend:
    """Local mode: the rows are the objects."""

    def __init__(self, store: ActionStore) -> None:
        self.store = store

    async def create(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.store.create(kind, obj)
        except Conflict as exc:
            raise _conflict(exc) from exc

    async def replace(
        self, kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None
    ) -> dict[str, Any] | None:
        return await self.store.replace_spec(kind, name, spec, labels)

    async def cancel(self, name: str) -> dict[str, Any] | None:
        current = await self.store.get(TASK, name)
        if current is None:
            return None
        return await self.store.replace_spec(TASK, name, {**current["spec"], "cancel": True})

    async def delete(self, kind: str, name: str) -> bool:
        return await self.store.delete(kind, name)


def _kube_error(exc: ApiError) -> HTTPException:
    return HTTPException(502, f"the Kubernetes API answered {exc.status}: {exc}")


class ClusterBackend:
    """Cluster mode: custom resources, written on the caller's behalf after the role check, and
    written through to the tables (the mirror then confirms them)."""

    def __init__(self, store: ActionStore, client: KubeClient) -> None:
        self.store = store
        self.client = client

    async def create(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in obj["metadata"].items() if k in ("name", "labels") and v}
        body = {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": obj["spec"]}
        try:
            created = await self.client.create_custom(GROUP, VERSION, PLURALS[kind], body)
        except ApiError as exc:
            if exc.status == 409:
                word = KINDS[kind].word
                raise HTTPException(
                    409, f"metadata.name: a {word} named {meta['name']!r} exists"
                ) from exc
            raise _kube_error(exc) from exc
        await self.store.upsert_objects(kind, [created])
        return created

    async def replace(
        self, kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None
    ) -> dict[str, Any] | None:
        for _ in range(5):  # another writer in between: read again and retry
            try:
                current = await self.client.get_custom(GROUP, VERSION, PLURALS[kind], name)
            except ApiError as exc:
                if exc.not_found:
                    return None
                raise _kube_error(exc) from exc
            body = {**current, "spec": spec}
            if labels is not None:
                body["metadata"] = {**current.get("metadata", {}), "labels": labels}
            try:
                replaced = await self.client.replace_custom(
                    GROUP, VERSION, PLURALS[kind], name, body
                )
            except ApiError as exc:
                if exc.conflict:
                    continue
                if exc.not_found:
                    return None
                raise _kube_error(exc) from exc
            await self.store.upsert_objects(kind, [replaced])
            return replaced
        raise HTTPException(409, f"{name!r} kept changing while it was written; try again")

    async def cancel(self, name: str) -> dict[str, Any] | None:
        try:
            patched = await self.client.merge_patch_custom(
                GROUP, VERSION, PLURALS[TASK], name, {"spec": {"cancel": True}}
            )
        except ApiError as exc:
            if exc.not_found:
                return None
            raise _kube_error(exc) from exc
        await self.store.upsert_objects(TASK, [patched])
        return patched

    async def delete(self, kind: str, name: str) -> bool:
        try:
            await self.client.delete_custom(GROUP, VERSION, PLURALS[kind], name)
        except ApiError as exc:
            if exc.not_found:
                await self.store.remove_objects(kind, [name])
                return False
            raise _kube_error(exc) from exc
        await self.store.remove_objects(kind, [name])
        return True
