"""Agent ingress bodies (the contract the agent's HTTP reporter is built from; see docs/api.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from obt.api.schemas import ApiModel
from obt.core.telemetry import Telemetry

ENROLLMENT_TOKEN_PATTERN = r"^[a-z0-9]{6}\.[a-z0-9]{16}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class EnrollRequest(ApiModel):
    enrollment_token: str = Field(
        ...,
        pattern=ENROLLMENT_TOKEN_PATTERN,
        description="Bootstrap-style token '<6 [a-z0-9]>.<16 [a-z0-9]>' an admin created.",
    )
    host_id: str = Field(
        ...,
        min_length=1,
        max_length=253,
        description="The host's configured id; the node name is derived from it.",
    )
    display_name: str | None = Field(None, max_length=253, description="Friendly name.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels for the node.")
    machine_id: str | None = Field(
        None,
        max_length=128,
        description="The host's stable machine id (/etc/machine-id, IOPlatformUUID or "
        "MachineGuid), when the agent could read it: a listed node of this name reported from "
        "another machine id is not taken over unless `replace` is true.",
    )
    replace: bool = Field(
        False,
        description="Take the name over even from a listed node of another machine (its token "
        "stops working). `obt agent --replace`.",
    )


class EnrollResponse(ApiModel):
    node_name: str = Field(..., description="Name of this host's OllamaNode.")
    token: str = Field(..., description="Per-node token: 'Authorization: Bearer <token>'.")


class ReportAccepted(ApiModel):
    accepted: bool = Field(True, description="Always true on 200.")
    digest: str = Field(..., description="sha256 of the report (AgentReport.digest()).")


class HeartbeatRequest(ApiModel):
    digest: str = Field(
        ..., pattern=SHA256_PATTERN, description="Digest of the last report the agent sent."
    )
    telemetry: Telemetry | None = Field(
        None,
        description="Live GPU figures of the agent's last cycle, shown on the node page; never "
        "written to the node or the OllamaNode.",
    )


class HeartbeatResponse(ApiModel):
    report_needed: bool = Field(
        ..., description="True when the server lacks a report with that digest: send one."
    )
    work_generation: int = Field(
        ...,
        description="Changes whenever a task or model set is created, changed or deleted (or "
        "who may work now changes): when it differs from the last one seen, fetch "
        "GET /api/v1/agents/{name}/work.",
    )


class EnrollmentTokenCreate(ApiModel):
    description: str = Field("", max_length=256, description="What the token is for.")
    ttl_seconds: int | None = Field(
        None, ge=60, le=365 * 24 * 3600, description="Lifetime; default 24 h."
    )


class EnrollmentTokenInfo(ApiModel):
    token_id: str = Field(..., description="The public part before the dot.")
    description: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    uses: int


class EnrollmentTokenCreated(EnrollmentTokenInfo):
    token: str = Field(..., description="The whole token; shown once, stored only as a hash.")


class NodeTokenInfo(ApiModel):
    node_name: str = Field(..., description="The node the token belongs to.")
    host_id: str = Field(..., description="The host id it enrolled with.")
    display_name: str | None = None
    created_at: datetime = Field(..., description="When the node first enrolled.")
    last_heartbeat_at: datetime | None = Field(
        None, description="Last heartbeat or report this API knows of (None: never)."
    )
