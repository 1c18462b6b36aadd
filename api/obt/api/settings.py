"""API settings: environment variables with the prefix OBT_ and `__` between groups.

e.g. `OBT_DATABASE__URL=postgresql+asyncpg://...`, `OBT_API__ADMIN_TOKEN=...`,
`OBT_API__CORS_ORIGINS='["https://obt.example"]'`. Secrets come from the environment or a file
(`OBT_API__ADMIN_TOKEN_FILE=/path`, see obt.core.settings). Local or cluster mode is
`api.cluster.enabled` (OBT_API__CLUSTER__ENABLED); there is no separate mode setting. The
Kubernetes access shared with the operator is OBT_KUBE__* (obt.core.settings.KubeSettings); the
database is OBT_DATABASE__* (a group of its own: the connection to an outside system, like
OBT_KUBE__). docs/api.md lists every setting; the names of before 0.x still work for one release.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from obt.api.auth.roles import Role
from obt.core.liveness import LivenessConfig
from obt.core.settings import KubeSettings, ObtSettings

# Admin tokens that are obviously examples; production refuses to start with them.
PLACEHOLDER_TOKENS = {"", "changeme", "change-me", "admin", "secret", "token", "example", "xxx"}


class DatabaseSettings(BaseModel):
    url: str = Field(
        "sqlite+aiosqlite:///./obt.db",
        description="SQLAlchemy async URL: postgresql+asyncpg://... (cluster) or sqlite+aiosqlite:///path.",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")
    pool_size: int = Field(10, ge=1, description="Connections kept open (PostgreSQL).")


class RateLimit(BaseModel):
    per_token_per_minute: int = Field(
        120, ge=0, description="Requests one node token may make per minute (0: unlimited)."
    )
    per_ip_per_minute: int = Field(
        600, ge=0, description="Requests one client address may make per minute (0: unlimited)."
    )
    enroll_per_ip_per_minute: int = Field(
        10, ge=0, description="Enrollment attempts per address per minute (guessing tokens)."
    )


class ClusterGroup(BaseModel):
    """Cluster mode (OBT_API__CLUSTER__*); access and identity are the shared OBT_KUBE__*."""

    enabled: bool = Field(
        False, description="Cluster mode: mirror OllamaNodes and write standalone CRs + Leases."
    )
    leader_lease_name: str = Field("obt-api-mirror", description="Lease for mirror leadership.")
    leader_lease_seconds: int = Field(15, ge=2, description="Leader lease duration in seconds.")
    watch_timeout_seconds: int = Field(300, ge=1, description="Server-side watch timeout.")
    lease_renew_min_seconds: float = Field(
        5.0, gt=0, description="Least time between two renewals of one standalone host's Lease."
    )


class EventsGroup(BaseModel):
    """Live events (/api/v1/events): resume buffer and stream caps (OBT_API__EVENTS__<NAME>)."""

    buffer_size: int = Field(
        1000,
        ge=0,
        description="Recent events kept for clients that reconnect with Last-Event-ID; one that "
        "missed more than this gets `resync` (0: always resync).",
    )
    max_streams_per_client: int = Field(
        16, ge=1, description="Open event streams one client address may hold (429 above)."
    )
    max_streams: int = Field(
        1000, ge=1, description="Open event streams in total per replica (429 above)."
    )
    retry_after_seconds: int = Field(
        30, ge=1, description="Retry-After sent with a 429 for too many streams."
    )


class ProxyAuth(BaseModel):
    """Single sign-on through a reverse proxy (oauth2-proxy, Pomerium, an Ingress with external
    auth) that puts the signed-in user and their groups in request headers."""

    user_header: str | None = Field(
        None,
        description="Header holding the signed-in user (oauth2-proxy: X-Forwarded-User, or "
        "X-Forwarded-Email). Unset: proxy sign-on is off.",
    )
    groups_header: str | None = Field(
        None,
        description="Header holding the user's groups, comma-separated (oauth2-proxy: "
        "X-Forwarded-Groups).",
    )
    trusted: list[str] = Field(
        default_factory=list,
        description="Addresses or CIDRs of the proxy (the direct peer address, not "
        "X-Forwarded-For); the headers from any other address are ignored.",
    )
    group_roles: dict[str, Role] = Field(
        default_factory=dict,
        description='Group to role, JSON: {"obt-admins": "admin", "staff": "viewer"}; a user '
        "in several groups gets the highest role.",
    )
    default_role: Role | None = Field(
        None, description="Role of a proxy user in no mapped group (unset: refused, 403)."
    )

    @field_validator("trusted")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/8)"
                ) from None
        return value


class AuthGroup(BaseModel):
    """Who may read and act (OBT_API__AUTH__*; docs/api.md, "Access control")."""

    anonymous_read: bool | None = Field(
        None,
        description="Let requests without a credential read (the viewer role). Unset: on for "
        "`obt serve` bound to loopback, off everywhere else (`obt api`, the Helm chart).",
    )
    metrics_anonymous: bool = Field(
        True, description="Serve /metrics without a credential (else the viewer role)."
    )
    session_ttl_seconds: int = Field(
        12 * 3600, ge=60, description="Lifetime of a dashboard sign-in session."
    )
    failed_per_ip_per_minute: int = Field(
        20,
        ge=0,
        description="Failed credential checks one address may make per minute before 429 "
        "(0: unlimited).",
    )
    proxy: ProxyAuth = Field(default_factory=ProxyAuth, description="Proxy single sign-on.")


class AuditGroup(BaseModel):
    """The audit trail of state-changing requests (OBT_API__AUDIT__*; docs/api.md)."""

    retention_seconds: int = Field(
        90 * 86400, ge=3600, description="How long an audit entry is kept (default 90 days)."
    )
    prune_interval_seconds: float = Field(
        3600.0, gt=0, description="How often entries older than the retention are deleted."
    )
    prune_batch: int = Field(
        1000, ge=1, le=100_000, description="Rows deleted per statement while pruning."
    )


class ApiGroup(BaseModel):
    host: str = Field("0.0.0.0", description="Address uvicorn binds in cluster mode.")
    port: int = Field(8881, ge=1, le=65535, description="Port uvicorn binds.")
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate (chain) file: serve HTTPS without a reverse proxy. Needs tls_key.",
    )
    tls_key: Path | None = Field(None, description="PEM private key file of tls_cert.")
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token for people's write operations (enrollment tokens, removals, "
        "seeding in demo mode).",
    )
    demo: bool = Field(
        False,
        description="Mount POST /api/v1/admin/seed, which writes fake nodes (demos, tests, "
        "benchmarks; `obt serve --demo`). Never in cluster mode: the API refuses to start.",
    )
    production: bool = Field(
        False, description="Refuse placeholder secrets and missing admin token when true."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser."
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body accepted (413 above it)."
    )
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="Rate limits (429).")
    enrollment_token_ttl_seconds: int = Field(
        24 * 3600, ge=60, description="Default lifetime of an enrollment token."
    )
    heartbeat_flush_seconds: float = Field(
        5.0, gt=0, description="How often in-memory heartbeat times are persisted in one batch."
    )
    liveness: LivenessConfig = Field(
        default_factory=LivenessConfig,
        description="Local mode's liveness of standalone hosts: the operator's settings "
        "(obt.core.liveness), read from OBT_API__LIVENESS__<NAME> as the operator reads "
        "OBT_OPERATOR__LIVENESS__<NAME>. Unused in cluster mode, where the operator judges.",
    )
    sse_keepalive_seconds: float = Field(15.0, gt=0, description="SSE comment sent when idle.")
    events: EventsGroup = Field(
        default_factory=EventsGroup, description="Live events: resume buffer, stream caps."
    )
    auth: AuthGroup = Field(default_factory=AuthGroup, description="Access control.")
    audit: AuditGroup = Field(
        default_factory=AuditGroup, description="Audit trail of state-changing requests."
    )
    cluster: ClusterGroup = Field(
        default_factory=ClusterGroup, description="Cluster mode (Kubernetes)."
    )


class ApiSettings(ObtSettings):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiGroup = Field(default_factory=ApiGroup)
    kube: KubeSettings = Field(
        default_factory=KubeSettings, description="Kubernetes access and identity (shared)."
    )

    def demo_conflict(self) -> str | None:
        """Why these settings must not start, where demo mode meets cluster mode."""
        if self.api.demo and self.api.cluster.enabled:
            return (
                "api.demo: demo mode (OBT_API__DEMO=true, `obt serve --demo`: fake nodes) "
                "cannot be combined with cluster mode (OBT_API__CLUSTER__ENABLED=true), whose inventory "
                "is the cluster's OllamaNodes; unset OBT_API__DEMO"
            )
        return None

    @model_validator(mode="after")
    def _refuse_demo_in_cluster(self) -> ApiSettings:
        conflict = self.demo_conflict()
        if conflict:
            raise ValueError(conflict)
        return self

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> ApiSettings:
        if self.api.production:
            token = self.api.admin_token.get_secret_value() if self.api.admin_token else ""
            if token.strip().lower() in PLACEHOLDER_TOKENS or len(token) < 16:
                raise ValueError(
                    "api.admin_token: production mode needs a real admin token of at least 16 "
                    "characters in OBT_API__ADMIN_TOKEN (got a placeholder or nothing)"
                )
        return self


def check_tls_files(cert: Path | None, key: Path | None) -> None:
    """Both or neither, and existing files: a clear error at start instead of uvicorn's traceback
    (`obt api` and `obt serve` check after their options override the environment)."""
    if (cert is None) != (key is None):
        given, missing = ("tls_cert", "tls_key") if key is None else ("tls_key", "tls_cert")
        raise ValueError(
            f"api.{given} is set but api.{missing} is not: HTTPS needs both the certificate "
            "(--tls-cert, OBT_API__TLS_CERT) and its key (--tls-key, OBT_API__TLS_KEY)"
        )
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if path is not None and not path.is_file():
            raise ValueError(f"api.{name}: {path} is not a readable file")
