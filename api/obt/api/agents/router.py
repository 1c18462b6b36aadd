"""/api/v1/agents (standalone agents), /api/v1/enrollment-tokens and /api/v1/node-tokens
(admins), and decommissioning a standalone host (`DELETE /api/v1/nodes/{name}`, admin)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import select

from obt.api.agents import hosts, tokens
from obt.api.agents.heartbeat import MAX_NAME, Answer, answer_heartbeat, check_node
from obt.api.agents.ingest import Credential
from obt.api.agents.schemas import (
    EnrollmentTokenCreate,
    EnrollmentTokenCreated,
    EnrollmentTokenInfo,
    EnrollRequest,
    EnrollResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    NodeTokenInfo,
    ReportAccepted,
)
from obt.api.auth.access import agent_credential, require
from obt.api.auth.roles import Role
from obt.api.db.tables import EnrollmentToken, Node, NodeCredential
from obt.api.deps import SessionDep, StateDep, get_state
from obt.api.nodes.store import utcnow
from obt.api.schemas import DENIED, VALIDATION_RESPONSES, Problem
from obt.api.security import too_many
from obt.api.state import AppState
from obt.core.report import AgentReport

router = APIRouter(tags=["agents"], responses=VALIDATION_RESPONSES)
ADMIN = require(Role.admin)

NodeName = Annotated[str, Path(min_length=1, max_length=MAX_NAME, description="OllamaNode name.")]
AuthHeader = Annotated[str | None, Header(description="Bearer <per-node token from enrollment>.")]

NODE_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or unknown node token."},
    403: {"model": Problem, "description": "The token belongs to another node."},
    413: {"model": Problem, "description": "Body larger than the limit."},
    429: {"model": Problem, "description": "Rate limited; see Retry-After."},
}


def node_auth(state: AppState, name: str, authorization: str | None) -> Credential:
    found = check_node(state, name, authorization)
    if isinstance(found, Answer):
        headers = {k.decode(): v.decode() for k, v in found.headers}
        raise HTTPException(found.status, found.detail, headers=headers or None)
    return found


class HeartbeatRoute(APIRoute):
    """The documented heartbeat route answers through `answer_heartbeat`, like the fast path:
    the endpoint's signature is the OpenAPI contract, and FastAPI's own body validation (whose
    checks and messages would differ from the fast path's) is not run. A name outside the
    route's 1-253 characters still gets FastAPI's own 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        validated = super().get_route_handler()

        async def handle(request: Request) -> Response:
            name = request.path_params["name"]
            if not 1 <= len(name) <= MAX_NAME:
                return await validated(request)  # 422 for the name; the endpoint never runs
            answer = await answer_heartbeat(
                get_state(request),
                name,
                request.headers.get("authorization"),
                await request.body(),
            )
            return Response(
                answer.body,
                status_code=answer.status,
                headers={k.decode(): v.decode() for k, v in answer.headers},
                media_type="application/json",
            )

        return handle


@router.post(
    "/api/v1/agents/enroll",
    operation_id="enrollAgent",
    dependencies=[agent_credential("enrollment")],
    status_code=201,
    response_model=EnrollResponse,
    responses={
        401: {"model": Problem, "description": "Unknown, expired or revoked enrollment token."},
        409: {
            "model": Problem,
            "description": "The name belongs to a node of another source or host, or to a "
            "listed node of another machine (without `replace`).",
        },
        429: {"model": Problem},
    },
)
async def enroll(
    body: EnrollRequest, request: Request, state: StateDep, session: SessionDep
) -> EnrollResponse:
    """Exchange an enrollment token for this host's node name and per-node token."""
    client = request.client.host if request.client else "-"
    wait = state.limiter.hit(
        f"enroll:{client}", state.settings.api.rate_limit.enroll_per_ip_per_minute
    )
    if wait is not None:
        raise too_many(wait, "address")
    now = utcnow()
    found = await tokens.check(session, body.enrollment_token, now)
    if isinstance(found, str):
        raise HTTPException(401, found)
    name = tokens.node_name_for(body.host_id)
    existing = (
        await session.execute(select(Node.source).where(Node.name == name))
    ).scalar_one_or_none()
    if existing is not None and existing != "standalone":
        raise HTTPException(
            409, f"hostId: node {name!r} already exists as a {existing} node; pick another hostId"
        )
    other = await session.get(NodeCredential, name)
    if other is not None and other.host_id != body.host_id:
        raise HTTPException(
            409,
            f"hostId: {body.host_id!r} maps to node {name!r}, enrolled by host {other.host_id!r}",
        )
    try:
        await hosts.check_takeover(session, name, body)
    except hosts.HostError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    if state.cluster is not None:  # cluster mode: the OllamaNode is the source of truth
        from obt.api.cluster.standalone import NodeConflict

        spec = {"source": "standalone", "hostId": body.host_id}
        if body.display_name:
            spec["displayName"] = body.display_name
        try:
            await state.cluster.ensure_node(name, spec, dict(body.labels))
        except NodeConflict as exc:
            raise HTTPException(409, str(exc)) from exc
    token = tokens.new_node_token()
    found.uses += 1
    await state.ingest.register(
        session, name, body.host_id, token, body.display_name, dict(body.labels)
    )
    await session.commit()
    return EnrollResponse(node_name=name, token=token)


@router.put(
    "/api/v1/agents/{name}/report",
    operation_id="putAgentReport",
    dependencies=[agent_credential("node")],
    response_model=ReportAccepted,
    responses=NODE_AUTH_ERRORS,
)
async def put_report(
    name: NodeName, report: AgentReport, state: StateDep, authorization: AuthHeader = None
) -> ReportAccepted:
    """A standalone agent's full report; written only when its digest changed."""
    cred = node_auth(state, name, authorization)
    digest = await state.ingest.report(cred, report)
    return ReportAccepted(accepted=True, digest=digest)


async def post_heartbeat(
    name: NodeName, body: HeartbeatRequest, authorization: AuthHeader = None
) -> Response:
    """Keep a standalone node alive; `reportNeeded` asks for a full report."""
    # Only the signature and this docstring are used: HeartbeatRoute answers the request.
    raise AssertionError("HeartbeatRoute answers heartbeats through answer_heartbeat")


router.add_api_route(
    "/api/v1/agents/{name}/heartbeat",
    post_heartbeat,
    methods=["POST"],
    operation_id="postAgentHeartbeat",
    dependencies=[agent_credential("node")],
    response_model=HeartbeatResponse,
    responses=NODE_AUTH_ERRORS,
    route_class_override=HeartbeatRoute,
)


@router.post(
    "/api/v1/enrollment-tokens",
    operation_id="createEnrollmentToken",
    dependencies=[ADMIN],
    status_code=201,
    response_model=EnrollmentTokenCreated,
    responses=DENIED,
)
async def create_enrollment_token(
    body: EnrollmentTokenCreate, state: StateDep, session: SessionDep
) -> EnrollmentTokenCreated:
    """A new enrollment token (admin). The whole token is shown only in this response."""
    ttl = body.ttl_seconds or state.settings.api.enrollment_token_ttl_seconds
    row, token = await tokens.create(session, body.description, ttl, utcnow())
    await session.commit()
    return EnrollmentTokenCreated(token=token, **_info(row).model_dump())


@router.get(
    "/api/v1/enrollment-tokens",
    operation_id="listEnrollmentTokens",
    dependencies=[ADMIN],
    response_model=list[EnrollmentTokenInfo],
    responses=DENIED,
)
async def list_enrollment_tokens(session: SessionDep) -> list[EnrollmentTokenInfo]:
    """Enrollment tokens (admin), newest first; secrets are never shown again."""
    since = utcnow() - timedelta(days=30)
    rows = (
        await session.execute(
            select(EnrollmentToken)
            .where(EnrollmentToken.expires_at >= since)
            .order_by(EnrollmentToken.created_at.desc())
        )
    ).scalars()
    return [_info(r) for r in rows]


@router.delete(
    "/api/v1/enrollment-tokens/{token_id}",
    operation_id="revokeEnrollmentToken",
    dependencies=[ADMIN],
    status_code=204,
    responses={**DENIED, 404: {"model": Problem}},
)
async def revoke_enrollment_token(
    token_id: Annotated[str, Path(pattern="^[a-z0-9]{6}$")],
    session: SessionDep,
) -> Response:
    """Revoke an enrollment token (admin); nodes already enrolled keep their own tokens."""
    row = await session.get(EnrollmentToken, token_id)
    if row is None:
        raise HTTPException(404, f"tokenId: no enrollment token {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.commit()
    return Response(status_code=204)


_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    **DENIED,
    404: {"model": Problem, "description": "No such node (or it has no token)."},
}


@router.get(
    "/api/v1/node-tokens",
    operation_id="listNodeTokens",
    dependencies=[ADMIN],
    response_model=list[NodeTokenInfo],
    responses=DENIED,
)
async def list_node_tokens(state: StateDep, session: SessionDep) -> list[NodeTokenInfo]:
    """Enrolled hosts' node tokens (admin), by node name; the secrets are never shown."""
    return await hosts.list_tokens(state, session)


@router.delete(
    "/api/v1/node-tokens/{name}",
    operation_id="revokeNodeToken",
    dependencies=[ADMIN],
    status_code=204,
    responses=_ADMIN_ERRORS,
)
async def revoke_node_token(name: NodeName, state: StateDep) -> Response:
    """Revoke a node's token (admin): its next heartbeat or report is 401. The node stays
    listed until the liveness rules remove it; `DELETE /api/v1/nodes/{name}` does both."""
    try:
        await hosts.revoke_token(state, name)
    except hosts.HostError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return Response(status_code=204)


@router.delete(
    "/api/v1/nodes/{name}",
    operation_id="decommissionNode",
    dependencies=[ADMIN],
    status_code=204,
    responses={
        **_ADMIN_ERRORS,
        409: {"model": Problem, "description": "A DaemonSet node: delete its Kubernetes Node."},
    },
)
async def decommission_node(name: NodeName, state: StateDep) -> Response:
    """Decommission a standalone host (admin): revoke its token and remove the node, leaving a
    tombstone with reason `Decommissioned` (cluster mode: its OllamaNode and Lease are deleted)."""
    try:
        await hosts.decommission(state, name)
    except hosts.HostError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return Response(status_code=204)


def _info(row: EnrollmentToken) -> EnrollmentTokenInfo:
    return EnrollmentTokenInfo(
        token_id=row.token_id,
        description=row.description,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        uses=row.uses,
    )
