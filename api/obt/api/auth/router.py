"""/api/v1/tokens (API tokens, admin) and /api/v1/auth (dashboard sign-in)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import Field
from sqlalchemy import select

from obt.api.auth import credentials
from obt.api.auth.access import (
    ADMIN_TOKEN_ID,
    CSRF_COOKIE,
    SESSION_COOKIE,
    check_blocked,
    check_csrf,
    principal_from_token,
    public,
    require,
    resolve_principal,
    same_origin,
)
from obt.api.auth.roles import Role
from obt.api.db.tables import ApiToken
from obt.api.deps import SessionDep, StateDep
from obt.api.nodes.store import utcnow
from obt.api.schemas import VALIDATION_RESPONSES, ApiModel, Problem

log = logging.getLogger(__name__)

router = APIRouter(tags=["auth"], responses=VALIDATION_RESPONSES)

_DENIED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No credential, or an unknown, expired or revoked one."},
    403: {"model": Problem, "description": "The credential's role is too low (named)."},
    429: {"model": Problem, "description": "Too many failed credential checks; see Retry-After."},
}


class TokenCreate(ApiModel):
    role: Role = Field(..., description="viewer, operator or admin.")
    ttl_seconds: int | None = Field(
        None, ge=60, le=10 * 365 * 86400, description="Lifetime; none: until revoked."
    )
    description: str = Field("", max_length=256, description="Who or what the token is for.")


class TokenInfo(ApiModel):
    id: str
    role: Role
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = Field(
        None, description="Last use (written at most once a minute)."
    )


class TokenCreated(TokenInfo):
    token: str = Field(..., description="The whole token: shown only in this response.")


class SessionCreate(ApiModel):
    token: str = Field(
        ..., min_length=1, max_length=512, description="An API token or the admin token."
    )


class PrincipalOut(ApiModel):
    kind: str = Field(..., description="anonymous, token, session, proxy or node.")
    id: str
    name: str
    role: Role | None


class SessionCreated(ApiModel):
    principal: PrincipalOut
    csrf_token: str = Field(
        ...,
        description="Send it as X-CSRF-Token on state-changing requests (also cookie obt_csrf).",
    )
    expires_at: datetime


class Me(ApiModel):
    principal: PrincipalOut | None = Field(None, description="None: anonymous.")
    anonymous_read: bool = Field(..., description="Anonymous requests may read (viewer).")


def _info(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.token_id,
        "role": Role(row.role),
        "description": row.description,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "last_used_at": row.last_used_at,
    }


@router.post(
    "/api/v1/tokens",
    operation_id="createApiToken",
    status_code=201,
    response_model=TokenCreated,
    responses=_DENIED,
    dependencies=[require(Role.admin)],
)
async def create_token(body: TokenCreate, request: Request, session: SessionDep) -> TokenCreated:
    """A new API token for a person or a script. The whole token is shown only here."""
    row, token = await credentials.create_token(
        session, body.role, body.description, body.ttl_seconds, utcnow()
    )
    await session.commit()
    request.state.audit_target = f"tokenId={row.token_id}"  # the audit trail (audit.py)
    log.info("API token %s created (role %s)", row.token_id, row.role)
    return TokenCreated(token=token, **_info(row))


@router.get(
    "/api/v1/tokens",
    operation_id="listApiTokens",
    response_model=list[TokenInfo],
    responses=_DENIED,
    dependencies=[require(Role.admin)],
)
async def list_tokens(session: SessionDep) -> list[TokenInfo]:
    """API tokens, newest first (secrets are never shown again)."""
    rows = (await session.execute(select(ApiToken).order_by(ApiToken.created_at.desc()))).scalars()
    return [TokenInfo(**_info(r)) for r in rows]


@router.delete(
    "/api/v1/tokens/{token_id}",
    operation_id="revokeApiToken",
    status_code=204,
    responses={**_DENIED, 404: {"model": Problem}},
    dependencies=[require(Role.admin)],
)
async def revoke_token(
    token_id: Annotated[str, Path(pattern="^[a-z0-9]{1,12}$", description="The token's id.")],
    session: SessionDep,
) -> Response:
    """Revoke an API token: it and the sessions signed in with it stop working at once."""
    row = await session.get(ApiToken, token_id)
    if row is None:
        raise HTTPException(404, f"tokenId: no API token {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.commit()
    return Response(status_code=204)


def _secure(request: Request) -> bool:
    return (
        request.url.scheme == "https"
        or request.headers.get("x-forwarded-proto", "").lower() == "https"
    )


@router.post(
    "/api/v1/auth/session",
    operation_id="createSession",
    response_model=SessionCreated,
    responses={
        401: _DENIED[401],
        403: {"model": Problem, "description": "Cross-origin request, or a node token."},
        429: _DENIED[429],
    },
    dependencies=[public("signing in is how a credential becomes a session")],
)
async def create_session(
    body: SessionCreate, request: Request, response: Response, state: StateDep, session: SessionDep
) -> SessionCreated:
    """Sign in with a token: sets the `obt_session` cookie (HttpOnly, SameSite=Strict) and the
    `obt_csrf` cookie whose value state-changing requests send back as X-CSRF-Token."""
    if not same_origin(request):
        raise HTTPException(403, "CSRF check failed: the Origin header is not this server's own")
    check_blocked(request)
    principal = await principal_from_token(request, body.token)
    # The audit trail (audit.py) records who signed in and with which token id, never the token.
    request.state.principal = principal
    request.state.audit_target = f"tokenId={principal.id}"
    if principal.role is None:
        raise HTTPException(403, "a node token cannot sign in; use an API token")
    ttl = state.settings.api.auth.session_ttl_seconds
    row, cookie, csrf = await credentials.create_session(
        session, principal.id, principal.name, principal.role, ttl, utcnow()
    )
    await session.commit()
    secure = _secure(request)
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=ttl, path="/", secure=secure, httponly=True,
        samesite="strict",
    )  # fmt: skip
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=ttl, path="/", secure=secure, httponly=False, samesite="strict"
    )
    who = PrincipalOut(kind="session", id=principal.id, name=principal.name, role=principal.role)
    return SessionCreated(principal=who, csrf_token=csrf, expires_at=row.expires_at)


@router.delete(
    "/api/v1/auth/session",
    operation_id="deleteSession",
    status_code=204,
    responses={403: {"model": Problem, "description": "The CSRF check failed."}},
    dependencies=[public("signing out needs only the session being ended")],
)
async def delete_session(request: Request, session: SessionDep) -> Response:
    """Sign out: the session is revoked server-side and its cookies cleared. With the session
    cookie, the CSRF check applies (X-CSRF-Token)."""
    if request.cookies.get(SESSION_COOKIE):
        try:
            principal = await resolve_principal(request)
        except HTTPException as exc:
            if exc.status_code == 429:
                raise
            principal = None
        if principal is not None and principal.kind == "session":
            check_csrf(request)
            row = request.state.session_row
            found = await session.get(type(row), row.session_id)
            if found is not None and found.revoked_at is None:
                found.revoked_at = utcnow()
                await session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get(
    "/api/v1/auth/me",
    operation_id="getMe",
    response_model=Me,
    responses={401: _DENIED[401], 429: _DENIED[429]},
    dependencies=[public("answers who the caller is, anonymous included")],
)
async def get_me(request: Request, state: StateDep) -> Me:
    """Who the caller is (null: anonymous) and whether anonymous requests may read."""
    principal = await resolve_principal(request)
    out = None
    if principal.kind != "anonymous":
        out = PrincipalOut(
            kind=principal.kind, id=principal.id, name=principal.name, role=principal.role
        )
    return Me(principal=out, anonymous_read=state.auth.anonymous_read)


__all__ = ["ADMIN_TOKEN_ID", "router"]
