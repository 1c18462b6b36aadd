"""The one heartbeat handler, and the node-token checks every agent route shares.

Two paths reach `answer_heartbeat`: the ASGI fast path (fastpath.py, in front of FastAPI's
middleware layers; heartbeats are many tiny requests) and the documented route in router.py
(`HeartbeatRoute`, which FastAPI's routing reaches when the fast path is bypassed). Both give the
same status, body and headers because both call this module; the limits and messages live here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from obt.api.errors import validation_problem
from obt.api.security import bearer, rate_limited
from obt.core.telemetry import Telemetry

if TYPE_CHECKING:
    from obt.api.agents.ingest import Credential
    from obt.api.state import AppState

MAX_NAME = 253
"""The longest node name (a Kubernetes object name)."""
HEARTBEAT_PATH = re.compile(rf"^/api/v1/agents/([^/]{{1,{MAX_NAME}}})/heartbeat$")
"""`POST` here is a heartbeat; group 1 is the node name."""
MAX_HEARTBEAT_BYTES = 4096
"""A heartbeat is a digest and, at most, a few GPUs' live figures (~900 bytes for 8 GPUs)."""
DIGEST = re.compile(r"^[0-9a-f]{64}$")

TOKEN_REQUIRED = "Authorization: a valid 'Bearer <node token>' is required (enroll first)"
HEARTBEAT_TOO_LARGE = f"heartbeat body larger than {MAX_HEARTBEAT_BYTES} bytes"
BAD_DIGEST = "digest: must be the 64 hex digits of the last report's sha256"

_REPORT_NEEDED = b'{"reportNeeded":true,"workGeneration":%d}'
_NO_REPORT_NEEDED = b'{"reportNeeded":false,"workGeneration":%d}'


def wrong_node(owner: str, name: str) -> str:
    return f"this token belongs to node {owner!r}, not {name!r}"


@dataclass(frozen=True)
class Answer:
    """A finished response: status, JSON body, extra headers (lower-case names)."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def problem(
        cls,
        status: int,
        detail: str | dict[str, Any],
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> Answer:
        payload = detail if isinstance(detail, dict) else {"detail": detail}
        return cls(status, json.dumps(payload).encode(), list(headers))

    @property
    def detail(self) -> str:
        detail: str = json.loads(self.body)["detail"]
        return detail


def check_node(state: AppState, name: str, authorization: str | None) -> Credential | Answer:
    """The node's credential, or the refusal: 401 unknown token, 403 another node's token,
    429 over the per-token rate."""
    cred = state.ingest.authenticate(bearer(authorization))
    if cred is None:
        return Answer.problem(401, TOKEN_REQUIRED, [(b"www-authenticate", b"Bearer")])
    if cred.node_name != name:
        return Answer.problem(403, wrong_node(cred.node_name, name))
    wait = state.limiter.hit(f"node:{name}", state.settings.api.rate_limit.per_token_per_minute)
    if wait is not None:
        detail, retry = rate_limited(wait, "node token")
        return Answer.problem(429, detail, [(b"retry-after", retry.encode())])
    return cred


def too_large() -> Answer:
    return Answer.problem(413, HEARTBEAT_TOO_LARGE)


async def answer_heartbeat(
    state: AppState, name: str, authorization: str | None, body: bytes
) -> Answer:
    """Check, record and answer one heartbeat: 413, then 401/403/429, then 422, else 200 with
    `reportNeeded` and `workGeneration`."""
    if len(body) > MAX_HEARTBEAT_BYTES:
        return too_large()
    cred = check_node(state, name, authorization)
    if isinstance(cred, Answer):
        return cred
    try:
        parsed = json.loads(body) if body else {}
        digest = parsed["digest"]
    except (ValueError, TypeError, KeyError):
        parsed, digest = {}, None
    if not isinstance(digest, str) or not DIGEST.match(digest):
        return Answer.problem(422, {"detail": BAD_DIGEST, "errors": []})
    telemetry = None
    if parsed.get("telemetry") is not None:
        try:
            telemetry = Telemetry.model_validate(parsed["telemetry"])
        except ValidationError as exc:
            return Answer.problem(422, validation_problem(exc.errors(), ("body", "telemetry")))
    needed = await state.ingest.heartbeat(cred, digest, telemetry)
    # The work generation (actions/store.py): in memory, kept current by the event bus.
    generation = state.actions.store.work_generation if state.actions is not None else 0
    return Answer(200, (_REPORT_NEEDED if needed else _NO_REPORT_NEEDED) % generation)
