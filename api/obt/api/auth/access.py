"""Who a request is (`resolve_principal`, the one place) and what it may do (`require`).

Every operation declares one role through `require(Role.x)` (or `public(...)`, or
`agent_credential(...)` for the agents' own endpoints); `declare_roles` copies the declaration
into the OpenAPI document (`x-obt-role` and the operation's description).

Order of resolution: `Authorization: Bearer` (an API token, the configured admin token, or a
node token), the `obt_session` cookie, the proxy's user header (only from a trusted peer
address), else anonymous (the viewer role only when anonymous read is on).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy import select

from obt.api.auth import credentials
from obt.api.auth.roles import ANONYMOUS, ANONYMOUS_VIEWER, Principal, Role
from obt.api.db.tables import ApiToken, AuthSession
from obt.api.nodes.store import utcnow
from obt.api.security import bearer, hash_token, rate_limited
from obt.api.settings import ApiSettings

log = logging.getLogger(__name__)

SESSION_COOKIE = "obt_session"
CSRF_COOKIE = "obt_csrf"
CSRF_HEADER = "X-CSRF-Token"
ADMIN_TOKEN_ID = "admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_KEY = "x-obt-role"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`obt token create --role ...`) or the admin token.",
)
session_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The dashboard's sign-in session (POST /api/v1/auth/session); state-changing "
    f"requests also need the {CSRF_HEADER} header.",
)


@dataclass
class AuthRuntime:
    """The access-control state of one running API (AppState.auth)."""

    settings: ApiSettings
    last_used: credentials.LastUsed = field(default_factory=credentials.LastUsed)
    blocked_until: dict[str, float] = field(default_factory=dict)
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.networks = [
            ipaddress.ip_network(n, strict=False) for n in self.settings.api.auth.proxy.trusted
        ]

    @property
    def anonymous_read(self) -> bool:
        return bool(self.settings.api.auth.anonymous_read)

    def trusted_peer(self, request: Request) -> bool:
        if not self.networks or request.client is None:
            return False
        try:
            peer = ipaddress.ip_address(request.client.host)
        except ValueError:
            return False
        return any(peer in net for net in self.networks)


def _runtime(request: Request) -> AuthRuntime:
    runtime: AuthRuntime = request.app.state.obt.auth
    return runtime


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


def check_blocked(request: Request) -> None:
    runtime = _runtime(request)
    until = runtime.blocked_until.get(_address(request))
    if until is not None:
        left = until - time.monotonic()
        if left > 0:
            detail, retry = rate_limited(left, "address (too many failed credential checks)")
            raise HTTPException(429, detail, headers={"Retry-After": retry})
        runtime.blocked_until.pop(_address(request), None)


def _refuse(request: Request, what: str, reason: str) -> HTTPException:
    """401 for a failed credential check: logged (never the secret), rate limited per address."""
    state = request.app.state.obt
    address = _address(request)
    log.warning("refused %s from %s: %s", what, address, reason)
    per_minute = state.settings.api.auth.failed_per_ip_per_minute
    wait = state.limiter.hit(f"authfail:{address}", per_minute)
    if wait is not None:
        blocked = state.auth.blocked_until
        if len(blocked) > 10_000:  # forget addresses whose wait is over
            now = time.monotonic()
            state.auth.blocked_until = blocked = {a: t for a, t in blocked.items() if t > now}
        blocked[address] = time.monotonic() + wait
        detail, retry = rate_limited(wait, "address (too many failed credential checks)")
        return HTTPException(429, detail, headers={"Retry-After": retry})
    return HTTPException(401, f"{what}: {reason}", headers={"WWW-Authenticate": "Bearer"})


async def principal_from_token(request: Request, token: str) -> Principal:
    state = request.app.state.obt
    settings: ApiSettings = state.settings
    admin = settings.api.admin_token.get_secret_value() if settings.api.admin_token else None
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal("token", ADMIN_TOKEN_ID, "admin token (OBT_API__ADMIN_TOKEN)", Role.admin)
    if credentials.looks_like_api_token(token):
        now = utcnow()
        async with state.sessions() as session:
            found = await credentials.check_token(session, token, now)
            if isinstance(found, credentials.Refused):
                raise _refuse(request, "Authorization", found.reason)
            await state.auth.last_used.touch(session, found.token_id, now)
        return Principal("token", found.token_id, found.description, Role(found.role))
    cred = state.ingest.authenticate(token)
    if cred is not None:
        return Principal("node", cred.node_name, cred.node_name, None)
    raise _refuse(request, "Authorization", "unknown token")


async def _from_session(request: Request, cookie: str) -> Principal:
    state = request.app.state.obt
    now = utcnow()
    async with state.sessions() as session:
        row = (
            await session.execute(
                select(AuthSession).where(AuthSession.secret_hash == hash_token(cookie))
            )
        ).scalar_one_or_none()
        if row is None:
            raise _refuse(request, "session", "unknown session (sign in again)")
        if row.revoked_at is not None:
            raise _refuse(request, "session", "this session was signed out (sign in again)")
        if row.expires_at <= now:
            raise _refuse(
                request, "session", f"this session expired at {row.expires_at.isoformat()}"
            )
        if row.token_id != ADMIN_TOKEN_ID:  # the token it was made from must still be good
            refused = credentials.token_state(await session.get(ApiToken, row.token_id), now)
            if refused is not None:
                raise _refuse(request, "session", refused.reason)
    request.state.session_row = row
    return Principal("session", row.token_id, row.name, Role(row.role))


def _from_proxy(request: Request, user: str) -> Principal:
    proxy = request.app.state.obt.settings.api.auth.proxy
    groups: list[str] = []
    if proxy.groups_header:
        raw = request.headers.get(proxy.groups_header, "")
        groups = [g.strip() for g in raw.split(",") if g.strip()]
    roles = [proxy.group_roles[g] for g in groups if g in proxy.group_roles]
    role = max(roles, key=lambda r: r.rank) if roles else proxy.default_role
    return Principal("proxy", user, user, role)


async def resolve_principal(request: Request) -> Principal:
    """Who this request is; sets `request.state.principal`. Raises 401 (or 429) for a
    credential that is given but refused: unknown, expired or revoked."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    runtime = _runtime(request)
    token = bearer(request.headers.get("authorization"))
    cookie = request.cookies.get(SESSION_COOKIE)
    proxy = runtime.settings.api.auth.proxy
    principal: Principal
    if token is not None:
        check_blocked(request)
        principal = await principal_from_token(request, token)
    elif cookie:
        check_blocked(request)
        principal = await _from_session(request, cookie)
    elif (
        proxy.user_header
        and (user := request.headers.get(proxy.user_header, "").strip())
        and runtime.trusted_peer(request)
    ):
        principal = _from_proxy(request, user)
    else:
        principal = ANONYMOUS_VIEWER if runtime.anonymous_read else ANONYMOUS
    request.state.principal = principal
    return principal


def same_origin(request: Request) -> bool:
    """No Origin header, or one whose host:port is this request's Host."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


def check_csrf(request: Request) -> None:
    """A state-changing request authenticated by the session cookie must carry the session's
    CSRF token in X-CSRF-Token and, when it has an Origin header, come from this origin."""
    if request.method in SAFE_METHODS:
        return
    row: AuthSession | None = getattr(request.state, "session_row", None)
    given = request.headers.get(CSRF_HEADER)
    if row is None or not given or not hmac.compare_digest(hash_token(given), row.csrf_hash):
        raise HTTPException(
            403,
            f"CSRF check failed: a request signed in by the session cookie must carry the "
            f"{CSRF_HEADER} header with the session's CSRF token (cookie {CSRF_COOKIE})",
        )
    if not same_origin(request):
        raise HTTPException(
            403, "CSRF check failed: the Origin header is not this server's own origin"
        )


Dependency = Callable[..., Awaitable[Principal]]


def require(role: Role) -> Any:
    """`Depends(require(Role.viewer))`: the one declaration of an operation's role."""

    async def dependency(
        request: Request,
        _bearer: Any = Depends(bearer_scheme),
        _session: Any = Depends(session_scheme),
    ) -> Principal:
        principal = await resolve_principal(request)
        if principal.kind == "node":
            raise HTTPException(
                403,
                f"a node token may only report for its own node; this operation needs the "
                f"{role.value} role",
            )
        if principal.role is None or (
            principal.kind == "anonymous" and not principal.role.allows(role)
        ):
            if principal.kind == "proxy":
                raise HTTPException(
                    403,
                    f"proxy user {principal.name!r} has no role (no group in "
                    f"OBT_API__AUTH__PROXY__GROUP_ROLES and no DEFAULT_ROLE); this operation "
                    f"needs the {role.value} role",
                )
            raise HTTPException(
                401,
                f"this operation needs the {role.value} role: pass 'Authorization: Bearer "
                f"<token>' or sign in",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if principal.kind == "session":
            check_csrf(request)
        if not principal.role.allows(role):
            raise HTTPException(
                403,
                f"this operation needs the {role.value} role; "
                f"{principal.kind} {principal.id!r} has the {principal.role.value} role",
            )
        return principal

    dependency.obt_role = role.value  # type: ignore[attr-defined]
    return Depends(dependency)


def public(why: str) -> Any:
    """`dependencies=[public("...")]`: an operation anyone may call, and why."""

    async def dependency(request: Request) -> None:
        return None

    dependency.obt_role = "public"  # type: ignore[attr-defined]
    dependency.obt_why = why  # type: ignore[attr-defined]
    return Depends(dependency)


def agent_credential(kind: str) -> Any:
    """The agents' own endpoints: a node token (`node`) or an enrollment token (`enrollment`),
    checked by the endpoint itself (the heartbeat's fast path never gets here)."""

    async def dependency() -> None:
        return None

    dependency.obt_role = kind  # type: ignore[attr-defined]
    return Depends(dependency)


def metrics_access() -> Any:
    """/metrics: public unless OBT_API__AUTH__METRICS_ANONYMOUS=false, then the viewer role."""
    viewer = require(Role.viewer).dependency

    async def dependency(request: Request) -> None:
        if not request.app.state.obt.settings.api.auth.metrics_anonymous:
            await viewer(request, None, None)

    dependency.obt_role = "public"  # type: ignore[attr-defined]
    return Depends(dependency)


_ROLE_WORDS = {
    "public": "Public: no credential needed.",
    "node": "Credential: the node's own token (from enrollment); no role.",
    "enrollment": "Credential: an enrollment token in the body; no role.",
}


def route_role(route: APIRoute) -> str | None:
    """The role `route` declares, or None."""
    found: list[str] = [
        getattr(dep.call, "obt_role", "")
        for dep in route.dependant.dependencies
        if hasattr(dep.call, "obt_role")
    ]
    if len(found) > 1:
        raise RuntimeError(f"{route.path}: declares {len(found)} roles; declare exactly one")
    return found[0] if found else None


def collect_roles(routers: Iterable[APIRouter]) -> dict[str, str]:
    """operationId -> the role its route declares (routers' own dependencies included)."""
    roles: dict[str, str] = {}
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema and route.operation_id:
                role = route_role(route)
                if role is not None:
                    roles[route.operation_id] = role
    return roles


def document_roles(schema: dict[str, Any], roles: dict[str, str]) -> dict[str, Any]:
    """Put each operation's role into the OpenAPI document: `x-obt-role` and a sentence at the
    end of its description (idempotent: the document is cached and may be passed again)."""
    for operations in schema.get("paths", {}).values():
        for op in operations.values():
            role = roles.get(op.get("operationId", ""))
            if role is None or ROLE_KEY in op:
                continue
            words = _ROLE_WORDS.get(role, f"Role: **{role}** (or higher).")
            op["description"] = f"{op.get('description', '')}\n\n{words}".strip()
            op[ROLE_KEY] = role
    return schema
