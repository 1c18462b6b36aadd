"""Standalone agents' work delivery, and the labels people give standalone hosts.

- The heartbeat answer carries `workGeneration` (agents/heartbeat.py reads it from memory: the
  store raises it with every change of agents' work and every replica learns it from the bus).
- `GET /api/v1/agents/{name}/work` (node token): the tasks and sets that may concern the node;
  the agent plans its steps itself (obt.core.actions.node_steps).
- `PUT /api/v1/agents/{name}/activity` (node token): the node's whole activity list, written
  into its node row (local mode) or its OllamaNode's status (cluster mode); the aggregation
  follows from the node event (local reconciler) or the OllamaNode watch (operator).
- `PUT /api/v1/nodes/{name}/labels` (admin): a standalone host's labels.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path
from sqlalchemy import select, update

from obt.api.actions.schemas import (
    ActivityAccepted,
    ActivityUpdate,
    NodeLabels,
    Work,
    strict_body,
)
from obt.api.agents.heartbeat import MAX_NAME
from obt.api.agents.router import NODE_AUTH_ERRORS, node_auth
from obt.api.auth.access import agent_credential, require
from obt.api.auth.roles import Role
from obt.api.db.engine import write_session
from obt.api.db.tables import Node, NodeCredential
from obt.api.deps import StateDep
from obt.api.nodes.store import NodeRecord
from obt.api.schemas import DENIED, VALIDATION_RESPONSES, Problem
from obt.api.state import AppState
from obt.core.kube import ApiError
from obt.core.models.actions import OllamaModelSet, OllamaTask
from obt.core.names import GROUP, OLLAMANODES, SOURCE_LABEL, VERSION
from obt.core.selectors import selects

router = APIRouter(tags=["agents"], responses=VALIDATION_RESPONSES)

NodeName = Annotated[str, Path(min_length=1, max_length=MAX_NAME, description="OllamaNode name.")]
AuthHeader = Annotated[str | None, Header(description="Bearer <per-node token from enrollment>.")]
FINISHED = frozenset({"Succeeded", "Failed", "Cancelled"})

_NODE_ERRORS: dict[int | str, dict[str, Any]] = {
    **NODE_AUTH_ERRORS,
    404: {"model": Problem, "description": "The node is not listed (send a report first)."},
    502: {"model": Problem, "description": "Cluster mode: the Kubernetes API refused the write."},
}


async def node_token(name: NodeName, state: StateDep, authorization: AuthHeader = None) -> str:
    """The node's own token, checked before the body is (a stranger learns nothing of it)."""
    node_auth(state, name, authorization)
    return name


NodeAuth = Annotated[str, Depends(node_token)]


def concerns(task: OllamaTask, name: str, labels: dict[str, str]) -> bool:
    """A task not finished that names the node or whose selector picks it."""
    if task.status.phase in FINISHED:
        return False
    if task.spec.nodes is not None:
        return name in task.spec.nodes
    return selects(task.spec.node_selector, labels)


async def node_labels(state: AppState, name: str) -> dict[str, str] | None:
    """The node's labels as its row has them (None: no such node)."""
    async with state.sessions() as session:
        row = (await session.execute(select(Node.labels).where(Node.name == name))).one_or_none()
    return None if row is None else {str(k): str(v) for k, v in (row[0] or {}).items()}


@router.get(
    "/api/v1/agents/{name}/work",
    operation_id="getAgentWork",
    dependencies=[agent_credential("node")],
    response_model=Work,
    response_model_exclude_none=True,
    responses=_NODE_ERRORS,
)
async def get_work(name: NodeAuth, state: StateDep) -> Any:
    """The tasks (not finished) and model sets that select this node, by name or by its labels,
    read at `generation`; fetch again when the heartbeat's `workGeneration` differs."""
    assert state.actions is not None
    store = state.actions.store
    generation = store.work_generation  # before the reads: a later change raises it again
    labels = await node_labels(state, name)
    if labels is None:
        cred = state.ingest.by_name.get(name)
        labels = dict(cred.labels) if cred is not None else {}
    tasks = [t for t in await store.tasks() if concerns(t, name, labels)]
    sets: list[OllamaModelSet] = [
        s for s in await store.model_sets() if selects(s.spec.node_selector, labels)
    ]
    return Work(generation=generation, labels=labels, tasks=tasks, model_sets=sets)


@router.put(
    "/api/v1/agents/{name}/activity",
    operation_id="putAgentActivity",
    # The token first (a stranger learns nothing of the body's rules), then the strict body.
    dependencies=[agent_credential("node"), Depends(node_token), strict_body(ActivityUpdate)],
    response_model=ActivityAccepted,
    responses=_NODE_ERRORS,
)
async def put_activity(name: NodeAuth, body: ActivityUpdate, state: StateDep) -> ActivityAccepted:
    """The node's activity (its whole list, at most 20 entries, running first), written into
    its node (local mode) or its OllamaNode's status (cluster mode). Send it when it changed,
    at most every 5 s while work runs."""
    activity = [a.to_wire() for a in body.activity]
    assert state.actions is not None
    if state.mirror is not None:
        try:
            await state.mirror.client.merge_patch_custom_status(
                GROUP, VERSION, OLLAMANODES, name, {"status": {"activity": activity}}
            )
        except ApiError as exc:
            if exc.not_found:
                raise HTTPException(404, f"name: no OllamaNode {name!r} yet; report first") from exc
            raise HTTPException(502, f"the Kubernetes API answered {exc.status}: {exc}") from exc
        changed = True
    else:
        found = await state.store.set_activity(name, activity)
        if found is None:
            raise HTTPException(404, f"name: node {name!r} is not listed; report first")
        changed = found
    return ActivityAccepted(changed=changed, generation=state.actions.store.work_generation)


labels_router = APIRouter(
    tags=["nodes"], responses={**VALIDATION_RESPONSES, **DENIED}, dependencies=[require(Role.admin)]
)


@labels_router.put(
    "/api/v1/nodes/{name}/labels",
    operation_id="putNodeLabels",
    response_model=NodeLabels,
    responses={
        404: {"model": Problem, "description": "No such node."},
        409: {
            "model": Problem,
            "description": "A DaemonSet node: its labels come from its Kubernetes Node.",
        },
        502: {"model": Problem, "description": "Cluster mode: the Kubernetes API refused."},
    },
)
async def put_node_labels(name: NodeName, body: NodeLabels, state: StateDep) -> NodeLabels:
    """Replace a standalone host's labels (what task and model-set selectors match). The
    host's agent keeps them: they replace the labels it enrolled with."""
    labels = dict(body.labels)
    async with state.sessions() as session:
        row = (await session.execute(select(Node).where(Node.name == name))).scalar_one_or_none()
    if row is None:
        raise HTTPException(404, f"name: no node named {name!r}")
    if row.source != "standalone":
        raise HTTPException(
            409,
            f"node {name!r} is a {row.source} node: its labels come from its Kubernetes Node "
            "(kubectl label node ...), copied by its agent",
        )
    async with write_session(state.sessions) as session:
        await session.execute(
            update(NodeCredential).where(NodeCredential.node_name == name).values(labels=labels)
        )
    cred = state.ingest.by_name.get(name)
    if cred is not None:
        cred.labels = dict(labels)
    if state.mirror is not None:
        current = dict(row.labels or {})
        patch: dict[str, Any] = {k: None for k in current if k not in labels and k != SOURCE_LABEL}
        patch.update(labels)
        try:
            await state.mirror.client.merge_patch_custom(
                GROUP, VERSION, OLLAMANODES, name, {"metadata": {"labels": patch}}
            )
        except ApiError as exc:
            if exc.not_found:
                raise HTTPException(404, f"name: no OllamaNode {name!r}") from exc
            raise HTTPException(502, f"the Kubernetes API answered {exc.status}: {exc}") from exc
    else:
        await state.store.upsert(
            NodeRecord(
                name=name,
                spec=row.spec,
                status=row.status,
                labels=labels,
                uid=row.uid,
                resource_version=row.resource_version,
                report_digest=row.report_digest,
                last_seen_at=row.last_seen_at,
            )
        )
    return NodeLabels(labels=labels)
