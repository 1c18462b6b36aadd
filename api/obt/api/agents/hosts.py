"""What admins do to standalone hosts: list and revoke node tokens, decommission a host, and the
rule that keeps enrollment from taking over another machine's name.

Revoking deletes the `node_credentials` row and forgets the token in memory (next request 401);
no schema change is involved. Decommissioning revokes, then removes the node with the tombstone
reason `Decommissioned`: in local mode through the store, in cluster mode by annotating the
OllamaNode with that reason, deleting it and its Lease (the mirror writes the tombstone from the
DELETED event). DaemonSet nodes follow their Kubernetes Node and are refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from obt.api.agents.schemas import EnrollRequest, NodeTokenInfo
from obt.api.db.engine import write_session
from obt.api.db.tables import Node, NodeCredential
from obt.api.state import AppState

log = logging.getLogger(__name__)

DECOMMISSIONED = "Decommissioned"


class HostError(Exception):
    """A refusal with its HTTP status; the message is the response's `detail`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def list_tokens(state: AppState, session: AsyncSession) -> list[NodeTokenInfo]:
    """Every node token (never the secret), by node name."""
    rows = (
        await session.execute(select(NodeCredential).order_by(NodeCredential.node_name))
    ).scalars()
    out = []
    for row in rows:
        cred = state.ingest.by_name.get(row.node_name)
        seen = _newest(row.last_heartbeat_at, cred.last_seen if cred else None)
        out.append(
            NodeTokenInfo(
                node_name=row.node_name,
                host_id=row.host_id,
                display_name=row.display_name,
                created_at=row.created_at,
                last_heartbeat_at=seen,
            )
        )
    return out


def _newest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


async def revoke_token(state: AppState, name: str) -> None:
    """Revoke the token of node `name`; HostError 404 when it has none."""
    async with write_session(state.sessions) as session:
        revoked = await state.ingest.revoke(session, name)
    if not revoked:
        raise HostError(404, f"name: node {name!r} has no node token (see `obt node token list`)")
    log.info("revoked the node token of %s", name)


@dataclass
class _Found:
    source: str | None  # None: no node listed (only a token)
    uid: str | None = None


async def decommission(state: AppState, name: str) -> None:
    """Revoke the host's token and remove the node with the tombstone reason `Decommissioned`
    (cluster mode: delete its OllamaNode and Lease). HostError 404 / 409."""
    found = await _find(state, name)
    async with state.sessions() as session:
        has_token = await session.get(NodeCredential, name) is not None
    if found.source is None and not has_token:
        raise HostError(404, f"name: no node {name!r} (see `obt nodes`)")
    if found.source not in (None, "standalone"):
        raise HostError(
            409,
            f"name: {name!r} is a {found.source} node: its OllamaNode follows the Kubernetes "
            f"Node and its agent pod. Drain and delete the Kubernetes Node instead "
            f"(`kubectl drain {name} --ignore-daemonsets` then `kubectl delete node {name}`).",
        )
    own = state.ingest.by_name.get(name)
    if own is not None and own.token_hash is None:
        raise HostError(
            409,
            f"name: {name!r} is this server's own machine, reported by the agent built into "
            "`obt serve`; run `obt serve --no-agent` to leave it out.",
        )
    # Token first: no heartbeat or report can bring the node back while it is being removed.
    async with write_session(state.sessions) as session:
        await state.ingest.revoke(session, name)
    cluster = state.cluster
    if cluster is not None:
        await cluster.delete_node(name, found.uid, DECOMMISSIONED)
        await cluster.delete_lease(name)
    elif found.source is not None:
        await state.store.remove(name, DECOMMISSIONED)
    log.info("decommissioned standalone node %s", name)


async def _find(state: AppState, name: str) -> _Found:
    """The node's source: from its OllamaNode in cluster mode, from the table in local mode."""
    cluster = state.cluster
    if cluster is not None:
        obj: dict[str, Any] | None = await cluster.get_node(name)
        if obj is None:
            return _Found(None)
        spec = obj.get("spec") or {}
        return _Found(str(spec.get("source") or "standalone"), obj["metadata"].get("uid"))
    async with state.sessions() as session:
        source = (
            await session.execute(select(Node.source).where(Node.name == name))
        ).scalar_one_or_none()
    return _Found(source)


async def check_takeover(session: AsyncSession, name: str, body: EnrollRequest) -> None:
    """HostError 409 when `name` is a listed node last reported from another machine id and the
    request does not say `replace`. Unknown machine ids (either side) cannot be compared and
    are let through, as before machine ids were sent."""
    if body.replace or not body.machine_id:
        return
    status = (
        await session.execute(select(Node.status).where(Node.name == name))
    ).scalar_one_or_none()
    if status is None:
        return  # not listed (never enrolled, or removed): the name is free
    held_by = (((status or {}).get("hardware") or {}).get("os") or {}).get("machineId")
    if held_by and held_by != body.machine_id:
        raise HostError(
            409,
            f"hostId: node {name!r} is listed and reports from another machine (its machine id "
            f"differs from this host's). If this host replaces that machine, enroll with "
            f"--replace (its token then stops working); if not, give this host another "
            f"--host-id; or remove the other one first (`obt node rm {name}`).",
        )
