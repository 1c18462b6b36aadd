"""/api/v1/benchmarks, /api/v1/benchmark-results and the agents' benchmark routes.

Benchmarks: cluster mode writes OllamaBenchmark custom resources (the mirror brings them into
SQL; the row is also written at once so that a read after a write sees it); local mode writes
the `benchmarks` table, whose status the local reconciler keeps. Results are read from SQL in
both modes and are never deleted with their benchmark or custom resource.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from obt.api.agents.heartbeat import MAX_NAME
from obt.api.agents.ingest import Credential
from obt.api.agents.router import node_auth
from obt.api.auth.access import agent_credential, require
from obt.api.auth.roles import Role
from obt.api.benchmarks import store
from obt.api.benchmarks.reconciler import node_facts
from obt.api.benchmarks.schemas import (
    BenchmarkCreate,
    BenchmarkPage,
    BenchmarkResultPage,
    CompareMatrix,
    History,
    ResultAccepted,
    ResultSubmit,
    StoredResult,
)
from obt.api.db.engine import write_session
from obt.api.db.tables import BenchmarkResultRow, BenchmarkRow
from obt.api.deps import SessionDep, StateDep
from obt.api.schemas import DENIED, INT64_MAX, VALIDATION_RESPONSES, Problem
from obt.api.state import AppState
from obt.core.actions import task_targets
from obt.core.kube import ApiError
from obt.core.model_names import normalize_model_name
from obt.core.models.benchmark import OllamaBenchmark, OllamaBenchmarkResultSpec
from obt.core.names import API_VERSION, GROUP, VERSION

router = APIRouter(tags=["benchmarks"], responses={**VALIDATION_RESPONSES, **DENIED})
agent_router = APIRouter(tags=["agents"], responses=VALIDATION_RESPONSES)
VIEWER = require(Role.viewer)
OPERATOR = require(Role.operator)
BENCHMARKS = "ollamabenchmarks"
RESULTS = "ollamabenchmarkresults"
EXPORT_LIMIT = 100_000

BenchName = Annotated[
    str, Path(min_length=1, max_length=253, description="The OllamaBenchmark's name.")
]
NodeName = Annotated[str, Path(min_length=1, max_length=MAX_NAME, description="OllamaNode name.")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
_KUBE_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"model": Problem, "description": "Cluster mode: the Kubernetes API refused or failed."}
}


def _kube_error(error: ApiError, what: str) -> HTTPException:
    if error.not_found:
        return HTTPException(404, f"{what}: not found in the cluster")
    if error.conflict:
        return HTTPException(409, f"{what}: {error}")
    if error.status == 422:  # the API server's own validation (e.g. a label it refuses)
        return HTTPException(422, f"{what}: {error}")
    return HTTPException(502, f"{what}: the Kubernetes API answered {error.status}: {error}")


async def _get_row(session: SessionDep, name: str) -> BenchmarkRow:
    row = await session.get(BenchmarkRow, name)
    if row is None:
        raise HTTPException(404, f"name: no benchmark named {name!r}")
    return row


# -- benchmarks ---------------------------------------------------------------------------------


@router.get(
    "/api/v1/benchmarks",
    operation_id="listBenchmarks",
    dependencies=[VIEWER],
    response_model=BenchmarkPage,
    response_model_exclude_none=True,
)
async def list_benchmarks(
    session: SessionDep,
    phase: Annotated[
        Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"] | None,
        Query(description="Only benchmarks in this phase."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> BenchmarkPage:
    """Benchmarks, newest first, with their status."""
    query = select(BenchmarkRow)
    count = select(func.count()).select_from(BenchmarkRow)
    if phase is not None:
        query = query.where(BenchmarkRow.phase == phase)
        count = count.where(BenchmarkRow.phase == phase)
    total = (await session.execute(count)).scalar_one()
    rows = (
        await session.execute(
            query.order_by(BenchmarkRow.created_at.desc(), BenchmarkRow.name)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return BenchmarkPage(
        items=[store.to_benchmark(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/api/v1/benchmarks",
    operation_id="createBenchmark",
    dependencies=[OPERATOR],
    status_code=201,
    response_model=OllamaBenchmark,
    response_model_exclude_none=True,
    responses={409: {"model": Problem, "description": "The name is taken."}, **_KUBE_ERRORS},
)
async def create_benchmark(
    body: BenchmarkCreate, state: StateDep, session: SessionDep
) -> OllamaBenchmark:
    """Start a benchmark: each model on each chosen node (`nodes` or `nodeSelector`). A
    benchmark that selects no node is refused (422) before anything runs."""
    spec = body.spec
    name = body.metadata.name or store.benchmark_name(spec)
    nodes = await node_facts(session)
    probe = OllamaBenchmark.model_validate({"metadata": {"name": name}, "spec": spec})
    targets = task_targets(probe, nodes)
    if spec.node_selector is not None and not targets:
        raise HTTPException(422, "spec.nodeSelector: selects no node")
    if spec.nodes is not None and not any(n in nodes for n in targets):
        raise HTTPException(422, f"spec.nodes: no OllamaNode named {', '.join(targets)}")
    meta: dict[str, Any] = {"name": name}
    if body.metadata.labels:
        meta["labels"] = body.metadata.labels
    wire = {
        "apiVersion": API_VERSION,
        "kind": "OllamaBenchmark",
        "metadata": meta,
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    if state.mirror is not None:
        try:
            created = await state.mirror.client.create_custom(GROUP, VERSION, BENCHMARKS, wire)
        except ApiError as error:
            raise _kube_error(error, f"metadata.name {name!r}") from error
        obj = OllamaBenchmark.model_validate(created)
    else:
        if await session.get(BenchmarkRow, name) is not None:
            raise HTTPException(409, f"metadata.name: a benchmark named {name!r} exists")
        wire["metadata"] = {
            **meta,
            "uid": store.new_uid(),
            "generation": 1,
            "creationTimestamp": store.utcnow().isoformat(),
        }
        obj = OllamaBenchmark.model_validate(wire)
    await session.close()
    work = _work(state)
    events: list[dict[str, Any]] = []
    try:
        async with write_session(state.sessions) as writer:
            if state.mirror is None and await writer.get(BenchmarkRow, name) is not None:
                raise HTTPException(409, f"metadata.name: a benchmark named {name!r} exists")
            await store.upsert_benchmark(writer, obj)
            events = await store.raise_work(work, writer, [name], "created")
    except IntegrityError as error:
        if state.mirror is None:  # created by a concurrent request
            raise HTTPException(409, f"metadata.name: a benchmark named {name!r} exists") from error
        async with write_session(state.sessions) as writer:  # the mirror was quicker
            await store.upsert_benchmark(writer, obj)
    if work is not None:
        work.after_commit(events)
    if state.bench_reconciler is not None:
        state.bench_reconciler.wake()
    return obj


@router.get(
    "/api/v1/benchmarks/{name}",
    operation_id="getBenchmark",
    dependencies=[VIEWER],
    response_model=OllamaBenchmark,
    response_model_exclude_none=True,
    responses=_NOT_FOUND,
)
async def get_benchmark(name: BenchName, session: SessionDep) -> OllamaBenchmark:
    """One benchmark with its status (per node+model outcomes, failures first)."""
    return store.to_benchmark(await _get_row(session, name))


@router.delete(
    "/api/v1/benchmarks/{name}",
    operation_id="deleteBenchmark",
    dependencies=[OPERATOR],
    status_code=204,
    responses={**_NOT_FOUND, **_KUBE_ERRORS},
)
async def delete_benchmark(name: BenchName, state: StateDep, session: SessionDep) -> Response:
    """Delete a benchmark (cluster mode: its custom resource, and with it its
    OllamaBenchmarkResults). Its results stay in the SQL history."""
    await _get_row(session, name)
    await session.close()
    if state.mirror is not None:
        try:
            await state.mirror.client.delete_custom(GROUP, VERSION, BENCHMARKS, name)
        except ApiError as error:
            if not error.not_found:
                raise _kube_error(error, f"benchmark {name!r}") from error
    work = _work(state)
    async with write_session(state.sessions) as writer:
        await store.delete_benchmark(writer, name)
        events = await store.raise_work(work, writer, [name], "deleted")
    if work is not None:
        work.after_commit(events)
    return Response(status_code=204)


@router.post(
    "/api/v1/benchmarks/{name}/cancel",
    operation_id="cancelBenchmark",
    dependencies=[OPERATOR],
    response_model=OllamaBenchmark,
    response_model_exclude_none=True,
    responses={**_NOT_FOUND, **_KUBE_ERRORS},
)
async def cancel_benchmark(
    name: BenchName, state: StateDep, session: SessionDep
) -> OllamaBenchmark:
    """Cancel a benchmark (spec.cancel): pairs not yet measured end Cancelled; results already
    written stay."""
    row = await _get_row(session, name)
    obj = store.to_benchmark(row)
    await session.close()
    if obj.spec.cancel:
        return obj
    if state.mirror is not None:
        try:
            patched = await state.mirror.client.merge_patch_custom(
                GROUP, VERSION, BENCHMARKS, name, {"spec": {"cancel": True}}
            )
        except ApiError as error:
            raise _kube_error(error, f"benchmark {name!r}") from error
        obj = OllamaBenchmark.model_validate(patched)
    else:
        obj.spec.cancel = True
        obj.metadata.generation = (obj.metadata.generation or 1) + 1
    work = _work(state)
    async with write_session(state.sessions) as writer:
        await store.upsert_benchmark(writer, obj)
        events = await store.raise_work(work, writer, [name], "cancelled")
    if work is not None:
        work.after_commit(events)
    if state.bench_reconciler is not None:
        state.bench_reconciler.wake()
    return obj


def _work(state: AppState) -> store.WorkCounter | None:
    """Where the work generation is kept (standalone agents' heartbeat answers)."""
    return state.actions.store if state.actions is not None else None


# -- results ------------------------------------------------------------------------------------


def _filter(
    model: str | None,
    node: str | None,
    benchmark: str | None,
    fingerprint: str | None,
    since_text: str | None,
) -> store.ResultFilter:
    since = None
    if since_text is not None:
        try:
            if not _RFC3339.match(since_text):
                raise ValueError(since_text)
            since = _DATETIME.validate_python(since_text.upper())
        except (ValueError, ValidationError) as error:
            raise HTTPException(
                422, f"since: {since_text!r} is not a time like 2026-12-03T10:00:00Z"
            ) from error
    return store.ResultFilter(
        model=normalize_model_name(model) if model else None,
        node=node,
        benchmark=benchmark,
        fingerprint=fingerprint,
        since=since,
    )


_DATETIME = TypeAdapter(datetime)
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")
ModelQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=253, description="Model name ('llama3.2' = ':latest')."),
]
NodeQuery = Annotated[str | None, Query(min_length=1, max_length=253, description="Node name.")]


@router.get(
    "/api/v1/benchmark-results",
    operation_id="listBenchmarkResults",
    dependencies=[VIEWER],
    response_model=BenchmarkResultPage,
    response_model_exclude_none=True,
    responses={
        200: {
            "description": "A page of results; with `format` every match as a download "
            "(Content-Disposition): CSV, or JSON (one page holding all, each with its spec).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def list_results(
    session: SessionDep,
    model: ModelQuery = None,
    node: NodeQuery = None,
    benchmark: Annotated[
        str | None, Query(min_length=1, max_length=253, description="Benchmark name.")
    ] = None,
    fingerprint: Annotated[
        str | None, Query(pattern="^[0-9a-f]{64}$", description="Exact fingerprint.")
    ] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Measured at or after this time (RFC 3339, with a zone).",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    format: Annotated[
        Literal["csv", "json"] | None,
        Query(description="Export everything that matches as a file: csv or json."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> Any:
    """Stored results, newest first, filtered; kept after their benchmarks and custom
    resources are deleted. `format=csv|json` exports every match (up to 100,000) as a file."""
    where = _filter(model, node, benchmark, fingerprint, since)
    if format is None:
        rows, total = await store.list_results(session, where, limit, offset)
        return BenchmarkResultPage(
            items=[store.to_result(r) for r in rows], total=total, limit=limit, offset=offset
        )
    rows, _ = await store.list_results(session, where, EXPORT_LIMIT, 0)
    stamp = store.utcnow().strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Disposition": f'attachment; filename="obt-benchmarks-{stamp}.{format}"'}
    if format == "json":
        page = BenchmarkResultPage(
            items=[store.to_result(r, full=True) for r in rows],
            total=len(rows),
            limit=EXPORT_LIMIT,
            offset=0,
        )
        body = page.model_dump_json(by_alias=True, exclude_none=True, indent=1)
        return Response(body, media_type="application/json", headers=headers)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(store.CSV_COLUMNS)
    for row in rows:
        writer.writerow(store.csv_row(store.to_result(row)))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/api/v1/benchmark-results/compare",
    operation_id="compareBenchmarkResults",
    dependencies=[VIEWER],
    response_model=CompareMatrix,
    response_model_exclude_none=True,
)
async def compare_results(
    session: SessionDep,
    model: ModelQuery = None,
    key: Annotated[
        str | None,
        Query(pattern="^[0-9a-f]{64}$", description="Compare under this comparable key."),
    ] = None,
    include_cached: Annotated[
        bool, Query(alias="includeCached", description="Also reused (cached) results.")
    ] = True,
) -> CompareMatrix:
    """Nodes x models: the latest comparable result of each pair (same model digest, Ollama
    version, options, prompts and method: the most common comparable key per model, or `key`),
    with pp/tg mean ± stddev, CV, placement and flags, and the best machine per model."""
    query = select(BenchmarkResultRow)
    if model:
        query = query.where(BenchmarkResultRow.model == normalize_model_name(model))
    if key:
        query = query.where(BenchmarkResultRow.comparable_key == key)
    if not include_cached:
        query = query.where(BenchmarkResultRow.cached.is_(False))
    rows = list((await session.execute(query)).scalars())
    return store.compare(rows, key)


@router.get(
    "/api/v1/benchmark-results/history",
    operation_id="getBenchmarkHistory",
    dependencies=[VIEWER],
    response_model=History,
    response_model_exclude_none=True,
)
async def history(
    session: SessionDep,
    node: Annotated[str, Query(min_length=1, max_length=253, description="Node name.")],
    model: Annotated[str, Query(min_length=1, max_length=253, description="Model name.")],
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> History:
    """One node+model over time, oldest first, with the regressions flagged at ingestion."""
    model = normalize_model_name(model)
    rows = (
        await session.execute(
            select(BenchmarkResultRow)
            .where(BenchmarkResultRow.node == node, BenchmarkResultRow.model == model)
            .order_by(BenchmarkResultRow.measured_at.desc())
            .limit(limit)
        )
    ).scalars()
    points = [store.history_point(r) for r in rows]
    return History(node=node, model=model, points=points[::-1])


# -- agents -------------------------------------------------------------------------------------


def node_credential(
    name: NodeName,
    state: StateDep,
    authorization: Annotated[
        str | None, Header(description="Bearer <per-node token from enrollment>.")
    ] = None,
) -> Credential:
    """The node token's check, as a dependency: refused before the body is read."""
    return node_auth(state, name, authorization)


NodeCredential = Annotated[Credential, Depends(node_credential)]
_AGENT_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or unknown node token."},
    403: {"model": Problem, "description": "The token (or spec.node) is another node's."},
    429: {"model": Problem, "description": "Rate limited; see Retry-After."},
}


@agent_router.get(
    "/api/v1/agents/{name}/benchmark-results",
    operation_id="getAgentBenchmarkResults",
    dependencies=[agent_credential("node")],
    response_model=list[StoredResult],
    response_model_exclude_none=True,
    responses=_AGENT_ERRORS,
)
async def agent_cached_results(
    cred: NodeCredential,
    session: SessionDep,
    fingerprint: Annotated[
        str, Query(pattern="^[0-9a-f]{64}$", description="The fingerprint to look up.")
    ],
) -> list[StoredResult]:
    """The cache lookup of a standalone agent: stored results with this fingerprint (of any
    node), measured ones before reused ones, newest first, at most 100."""
    rows = (
        await session.execute(
            select(BenchmarkResultRow)
            .where(BenchmarkResultRow.fingerprint == fingerprint)
            .order_by(
                BenchmarkResultRow.cached,
                BenchmarkResultRow.measured_at.desc(),
                BenchmarkResultRow.name,
            )
            .limit(100)
        )
    ).scalars()
    return [StoredResult(name=r.name, spec=store.spec_of(r)) for r in rows]


@agent_router.post(
    "/api/v1/agents/{name}/benchmark-results",
    operation_id="postAgentBenchmarkResult",
    dependencies=[agent_credential("node")],
    status_code=201,
    response_model=ResultAccepted,
    responses={**_AGENT_ERRORS, **_KUBE_ERRORS},
)
async def agent_post_result(
    body: ResultSubmit, cred: NodeCredential, state: StateDep
) -> ResultAccepted:
    """A standalone agent's result of its own node (spec.node must be it). Stored in SQL with
    its regression computed against the node+model's history (cluster mode: also written as
    an OllamaBenchmarkResult owned by the benchmark). Posting the same result again is a no-op."""
    spec = body.spec
    if spec.node != cred.node_name:
        raise HTTPException(
            403, f"spec.node: {spec.node!r} is not this token's node {cred.node_name!r}"
        )
    name = store.result_name(spec)
    await ingest_result(state, name, spec, write_resource=state.mirror is not None)
    return ResultAccepted(name=name)


async def ingest_result(
    state: AppState,
    name: str,
    spec: OllamaBenchmarkResultSpec,
    *,
    write_resource: bool = False,
) -> bool:
    """Store one result (and, in cluster mode for standalone agents, its custom resource);
    announce it. False when it was stored already."""
    announcer = store.Announcer(state.bus, state.store.dialect)
    stored = await store.ingest(state.sessions, announcer, name, spec)
    if write_resource and stored is not None and state.mirror is not None:
        await _write_result_resource(state, name, stored)
    if stored is not None and state.bench_reconciler is not None:
        state.bench_reconciler.wake()
    return stored is not None


async def _write_result_resource(
    state: AppState, name: str, spec: OllamaBenchmarkResultSpec
) -> None:
    assert state.mirror is not None
    client = state.mirror.client
    meta: dict[str, Any] = {"name": name}
    if len(spec.benchmark) <= 63:
        meta["labels"] = {f"{GROUP}/benchmark": spec.benchmark}
    uid = spec.benchmark_uid
    if uid is None:
        try:
            owner = await client.get_custom(GROUP, VERSION, BENCHMARKS, spec.benchmark)
            uid = (owner.get("metadata") or {}).get("uid")
        except ApiError:
            uid = None
    if uid:
        meta["ownerReferences"] = [
            {
                "apiVersion": API_VERSION,
                "kind": "OllamaBenchmark",
                "name": spec.benchmark,
                "uid": uid,
            }
        ]
    body = {
        "apiVersion": API_VERSION,
        "kind": "OllamaBenchmarkResult",
        "metadata": meta,
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    try:
        await client.create_custom(GROUP, VERSION, RESULTS, body)
    except ApiError as error:
        if not error.conflict:
            raise _kube_error(error, f"result {name!r}") from error
