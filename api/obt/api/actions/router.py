"""/api/v1/tasks and /api/v1/modelsets: people's model operations (issue 15).

Bodies and answers are the kinds' wire forms. The operator role creates, changes, cancels and
deletes; the viewer role reads. Local mode keeps the objects in the database, cluster mode writes
custom resources (actions/service.py); reads come from SQL in both.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response

from obt.api.actions.schemas import ModelSetIn, ModelSetPage, TaskIn, TaskPage, strict_body
from obt.api.actions.service import check_targets, generate_name
from obt.api.actions.store import MODELSET, TASK
from obt.api.auth.access import require
from obt.api.auth.roles import Role
from obt.api.deps import SessionDep, StateDep
from obt.api.schemas import DENIED, INT64_MAX, VALIDATION_RESPONSES, Problem
from obt.api.state import AppState
from obt.core.models.actions import Action, OllamaModelSet, OllamaTask, TaskPhase

router = APIRouter(tags=["actions"], responses={**VALIDATION_RESPONSES, **DENIED})
VIEWER = require(Role.viewer)
OPERATOR = require(Role.operator)

ObjectName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="The object's name.",
    ),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such object."}
}
KUBE_FAILED: dict[int | str, dict[str, Any]] = {
    502: {"model": Problem, "description": "Cluster mode: the Kubernetes API refused the write."}
}
EXISTS: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "An object of that name exists already."}
}


def _actions(state: AppState) -> Any:
    runtime = state.actions
    if runtime is None:  # pragma: no cover - set in the lifespan before requests arrive
        raise HTTPException(503, "the API is starting")
    return runtime


def _missing(word: str, name: str) -> HTTPException:
    return HTTPException(404, f"name: no {word} named {name!r}")


# -- tasks -----------------------------------------------------------------------------------


@router.get(
    "/api/v1/tasks",
    operation_id="listTasks",
    response_model=TaskPage,
    dependencies=[VIEWER],
    response_model_exclude_none=True,
)
async def list_tasks(
    state: StateDep,
    phase: Annotated[list[TaskPhase] | None, Query(description="Any of these phases.")] = None,
    action: Annotated[list[Action] | None, Query(description="Any of these actions.")] = None,
    search: Annotated[
        str | None, Query(max_length=253, description="Substring of the task's name.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> Any:
    """Tasks, newest first, with their status; `total` counts every match."""
    items, total = await _actions(state).store.page(
        TASK, limit=limit, offset=offset, phase=phase, action=action, search=search
    )
    return TaskPage.model_validate(
        {"items": items, "total": total, "limit": limit, "offset": offset}
    )


@router.post(
    "/api/v1/tasks",
    operation_id="createTask",
    status_code=201,
    response_model=OllamaTask,
    dependencies=[OPERATOR, strict_body(TaskIn)],
    responses={**EXISTS, **KUBE_FAILED},
    response_model_exclude_none=True,
)
async def create_task(body: TaskIn, state: StateDep, session: SessionDep) -> Any:
    """Run an action (pull, delete, load, unload) on chosen nodes, once. Without
    metadata.name one is generated. 422 when a named node does not exist or the selector picks
    no node: nothing is stored then."""
    await check_targets(session, body.spec)
    await session.close()
    name = body.metadata.name or generate_name(body.spec.action, body.spec.models[0].name)
    obj = {
        "metadata": {"name": name, "labels": body.metadata.labels},
        "spec": body.spec.to_wire(),
    }
    return await _actions(state).backend.create(TASK, obj)


@router.get(
    "/api/v1/tasks/{name}",
    operation_id="getTask",
    response_model=OllamaTask,
    dependencies=[VIEWER],
    responses=NOT_FOUND,
    response_model_exclude_none=True,
)
async def get_task(name: ObjectName, state: StateDep) -> Any:
    """One task with its status: counts, per-node outcomes (failures first) and conditions."""
    found = await _actions(state).store.get(TASK, name)
    if found is None:
        raise _missing("task", name)
    return found


@router.post(
    "/api/v1/tasks/{name}/cancel",
    operation_id="cancelTask",
    response_model=OllamaTask,
    dependencies=[OPERATOR],
    responses={**NOT_FOUND, **KUBE_FAILED},
    response_model_exclude_none=True,
)
async def cancel_task(name: ObjectName, state: StateDep) -> Any:
    """Stop a task (sets spec.cancel): work in flight stops, nothing new starts, its phase
    becomes Cancelled. A finished task stays as it finished."""
    found = await _actions(state).backend.cancel(name)
    if found is None:
        raise _missing("task", name)
    return found


@router.delete(
    "/api/v1/tasks/{name}",
    operation_id="deleteTask",
    status_code=204,
    dependencies=[OPERATOR],
    responses={**NOT_FOUND, **KUBE_FAILED},
)
async def delete_task(name: ObjectName, state: StateDep) -> Response:
    """Delete a task; work still in flight for it stops."""
    if not await _actions(state).backend.delete(TASK, name):
        raise _missing("task", name)
    return Response(status_code=204)


# -- model sets ------------------------------------------------------------------------------


@router.get(
    "/api/v1/modelsets",
    operation_id="listModelSets",
    response_model=ModelSetPage,
    dependencies=[VIEWER],
    response_model_exclude_none=True,
)
async def list_model_sets(
    state: StateDep,
    search: Annotated[
        str | None, Query(max_length=253, description="Substring of the set's name.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> Any:
    """Model sets, newest first, with their status; `total` counts every match."""
    items, total = await _actions(state).store.page(
        MODELSET, limit=limit, offset=offset, search=search
    )
    return ModelSetPage.model_validate(
        {"items": items, "total": total, "limit": limit, "offset": offset}
    )


@router.post(
    "/api/v1/modelsets",
    operation_id="createModelSet",
    status_code=201,
    response_model=OllamaModelSet,
    dependencies=[OPERATOR, strict_body(ModelSetIn)],
    responses={**EXISTS, **KUBE_FAILED},
    response_model_exclude_none=True,
)
async def create_model_set(body: ModelSetIn, state: StateDep) -> Any:
    """Keep models present (optionally loaded) on the nodes a selector picks, including nodes
    that join later. Without metadata.name one is generated."""
    name = body.metadata.name or generate_name("set", body.spec.models[0].name)
    obj = {
        "metadata": {"name": name, "labels": body.metadata.labels},
        "spec": body.spec.to_wire(),
    }
    return await _actions(state).backend.create(MODELSET, obj)


@router.get(
    "/api/v1/modelsets/{name}",
    operation_id="getModelSet",
    response_model=OllamaModelSet,
    dependencies=[VIEWER],
    responses=NOT_FOUND,
    response_model_exclude_none=True,
)
async def get_model_set(name: ObjectName, state: StateDep) -> Any:
    """One model set with its status: counts, the nodes not Ready (drift named) and conditions."""
    found = await _actions(state).store.get(MODELSET, name)
    if found is None:
        raise _missing("model set", name)
    return found


@router.put(
    "/api/v1/modelsets/{name}",
    operation_id="replaceModelSet",
    response_model=OllamaModelSet,
    dependencies=[OPERATOR, strict_body(ModelSetIn)],
    responses={**NOT_FOUND, **KUBE_FAILED, **EXISTS},
    response_model_exclude_none=True,
)
async def replace_model_set(name: ObjectName, body: ModelSetIn, state: StateDep) -> Any:
    """Replace a model set's spec (and its labels, when given); metadata.name, when given, must
    be the path's name."""
    if body.metadata.name is not None and body.metadata.name != name:
        raise HTTPException(
            422, f"metadata.name: {body.metadata.name!r} differs from the path's {name!r}"
        )
    found = await _actions(state).backend.replace(
        MODELSET, name, body.spec.to_wire(), body.metadata.labels
    )
    if found is None:
        raise _missing("model set", name)
    return found


@router.delete(
    "/api/v1/modelsets/{name}",
    operation_id="deleteModelSet",
    status_code=204,
    dependencies=[OPERATOR],
    responses={**NOT_FOUND, **KUBE_FAILED},
)
async def delete_model_set(name: ObjectName, state: StateDep) -> Response:
    """Delete a model set; the models stay where they are (prune acts only while a set exists)."""
    if not await _actions(state).backend.delete(MODELSET, name):
        raise _missing("model set", name)
    return Response(status_code=204)
