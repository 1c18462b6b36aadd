"""HTTP mode: a standalone host reports to the OBT API (contract in docs/agent.md).

- Enrollment trades an enrollment token for a per-node token once; the node token is kept in a
  state file (mode 0600) and used from then on.
- The full report is PUT only when its digest changed, or when a heartbeat answers
  `reportNeeded` (the server lost it, e.g. after a restart). Heartbeats carry the digest.
- While the server is away, requests back off exponentially with jitter; 429 waits Retry-After.
  Only the latest report is kept, and it is the first thing sent when the server is back.
- With work on (`HttpWork`), heartbeat answers carrying `workGeneration` make it fetch its
  tasks and model sets from `/work`, run the Worker and send `status.activity` with
  `PUT /activity` (reporters/http_work.py).
- A node token the server refuses (401: revoked, the host decommissioned, or unknown) is never
  silently traded for a new one with the enrollment token this host already used: the agent logs
  one line saying how to re-enroll and retries slowly (doubling up to 30 min). Only an enrollment
  token it has not used before (a new `--enroll-token`) enrolls it again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from obt.agent.health import Health
from obt.agent.reporters.http_work import HttpWork
from obt.core.backoff import Backoff
from obt.core.report import AgentReport
from obt.core.telemetry import Telemetry
from obt.core.version import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"obt-agent/{__version__}"
STATE_FILE = "agent-state.json"
# Sent before any report was accepted: the server has no such digest and asks for the report.
NO_DIGEST = "0" * 64
# Longest wait between two checks of a refused node token: nothing but a person can fix it, so
# one request per half hour is plenty (and costs the server nothing).
REFUSED_RETRY_CAP_S = 1800.0


# Servers already warned about in this process: the warning is said once, not on each restart
# of the reporter.
_warned_plain_http: set[str] = set()


def plain_http_warning(server: str) -> str | None:
    """The warning for a server reached over plain HTTP beyond this machine, else None.

    Loopback (127.0.0.0/8, ::1, localhost) is exempt: `obt serve` on the same machine needs no
    TLS. Anything else would carry the enrollment and node tokens in clear text.
    """
    parts = urlsplit(server)
    if parts.scheme.lower() != "http":
        return None
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: not known to be loopback
    return (
        f"http: {server} is plain HTTP to another machine: the enrollment and node tokens cross "
        "the network unencrypted. Serve HTTPS (obt serve --tls-cert/--tls-key, or a reverse "
        "proxy) and use an https:// --server (--ca-file for a private CA); docs/install.md, 'TLS'"
    )


def warn_plain_http_once(server: str) -> bool:
    """Log plain_http_warning(server) the first time this process sees that server; True if it
    logged."""
    message = plain_http_warning(server)
    if message is None or server in _warned_plain_http:
        return False
    _warned_plain_http.add(server)
    log.warning("%s", message)
    return True


def ssl_context(ca_file: Path | None) -> ssl.SSLContext | None:
    """Verification against `ca_file` (a private CA) when given; None means aiohttp's default
    (the system's trust store). A missing or malformed file raises a ValueError naming it."""
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--ca-file {ca_file}: not a readable PEM CA file ({exc})") from exc


class FatalReportError(RuntimeError):
    """Configuration the agent cannot fix by retrying (no token, token refused and no way to
    enroll again)."""


class TokenRefused(FatalReportError):
    """The server refused this host's node token (401/403) and re-enrolling is not allowed."""


@dataclass
class NodeCredentials:
    server: str
    node_name: str
    token: str
    enroll_token_id: str | None = None  # the enrollment token this node token came from


def token_id(enroll_token: str) -> str:
    """The public part of an enrollment token ('abcdef' of 'abcdef.0123456789abcdef')."""
    return enroll_token.split(".", 1)[0]


def load_state(data_dir: Path, server: str) -> NodeCredentials | None:
    path = data_dir / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("server") != server or not data.get("token") or not data.get("nodeName"):
        return None
    used = data.get("enrollTokenId")
    return NodeCredentials(
        server, str(data["nodeName"]), str(data["token"]), str(used) if used else None
    )


def save_state(data_dir: Path, credentials: NodeCredentials) -> Path:
    """Write the state file readable by its owner only (it holds the node token)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {
                "server": credentials.server,
                "nodeName": credentials.node_name,
                "token": credentials.token,
                "enrollTokenId": credentials.enroll_token_id,
            },
            handle,
        )
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


class HttpError(RuntimeError):
    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.retry_after = retry_after


class HttpReporter:
    def __init__(
        self,
        server: str,
        health: Health,
        clock: Callable[[], float],
        data_dir: Path,
        host_id: str,
        token: str | None = None,
        enroll_token: str | None = None,
        display_name: str | None = None,
        labels: dict[str, str] | None = None,
        replace: bool = False,
        heartbeat_interval: float = 10.0,
        max_backoff: float = 60.0,
        base_backoff: float = 1.0,
        request_timeout: float = 10.0,
        rng: random.Random | None = None,
        ca_file: Path | None = None,
        work: HttpWork | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.work = work
        self.ssl = ssl_context(ca_file)
        warn_plain_http_once(self.server)
        self.health = health
        self.clock = clock
        self.data_dir = data_dir
        self.host_id = host_id
        self.enroll_token = enroll_token
        self.display_name = display_name
        self.labels = labels or {}
        self.replace = replace
        self.heartbeat_interval = heartbeat_interval
        self.max_backoff = max_backoff
        self.request_timeout = request_timeout
        rng = rng or random.Random()
        self.backoff = Backoff(base=base_backoff, cap=max_backoff, rng=rng)
        self.credentials = load_state(data_dir, self.server)
        if token:
            node = self.credentials.node_name if self.credentials else host_id
            self.credentials = NodeCredentials(self.server, node, token)
        self.pending: AgentReport | None = None
        self.telemetry: Telemetry | None = None  # sent with each heartbeat (GPU figures)
        self.acked_digest: str | None = None
        self.rejected_digest: str | None = None
        self.next_heartbeat = 0.0
        self.blocked_until = 0.0
        # While the node token is refused: slow retries, logged once (see TokenRefused).
        self.refused = Backoff(base=max_backoff, cap=max(max_backoff, REFUSED_RETRY_CAP_S), rng=rng)
        self._fatal_logged: str | None = None
        self._session: aiohttp.ClientSession | None = None

    # Loop interface ---------------------------------------------------------------------------

    def offer(self, report: AgentReport, telemetry: Telemetry | None = None) -> None:
        self.pending = report  # only the latest report is kept
        self.telemetry = telemetry if telemetry is not None and telemetry.gpus else None
        if self.work is not None:
            self.work.worker.set_loaded([m.name for m in report.ollama.loaded])
            self.work.worker.set_report(report)
            self.work.worker.mark_inventory_stale()

    def next_due(self) -> float:
        due = min(self.next_heartbeat, self._report_due())
        if self.work is not None and self.credentials is not None:
            due = min(due, self.work.fetch_due(), self.work.worker.next_due())
        return max(self.blocked_until, due)

    @property
    def wakeup(self) -> asyncio.Event | None:
        """Set when a step ends: the loop comes round at once."""
        return self.work.worker.wakeup if self.work is not None else None

    def take_detect_request(self) -> bool:
        """True once after a step finished: detect now, so the report shows the change."""
        return self.work is not None and self.work.worker.take_finished()

    def _report_due(self) -> float:
        unsent = self.pending is not None and self.pending.digest() not in (
            self.acked_digest,
            self.rejected_digest,
        )
        if not unsent:
            return float("inf")
        if self.work is not None:
            # While work runs, report and activity share one budget (one status write per 5 s).
            return max(self.clock(), self.work.worker.budget_free_at())
        return self.clock()

    async def step(self) -> bool:
        """Send what is due; True when the server holds the latest report."""
        now = self.clock()
        if now < self.blocked_until:
            return False
        try:
            if self.credentials is None:
                await self._enroll()
            # (a fresh clock(): _report_due() reads one, later than `now` on a real clock)
            if (self.pending is not None and self._report_due() <= self.clock()) or (
                now >= self.next_heartbeat and await self._heartbeat() and self.pending is not None
            ):
                await self._send_report(self.pending)
            if self.work is not None:
                await self._work_step()
        except HttpError as exc:
            self._failed(exc)
            return False
        except TokenRefused as exc:
            # Only a person can fix this: one clear line, then check again rarely and quietly.
            self.health.api_failed(str(exc))
            delay = self.refused.next_delay()
            self.blocked_until = self.clock() + delay
            self._log_fatal(
                f"{exc}; checking again in {delay:.0f}s, then at most every "
                f"{self.refused.cap / 60:.0f} min.",
                str(exc),
            )
            return False
        except FatalReportError as exc:
            # Retrying soon cannot help, exiting would only make the service manager restart
            # us in a loop: stay up, unready, and try again at the slowest pace.
            self.health.api_failed(str(exc))
            self.blocked_until = self.clock() + self.max_backoff
            self._log_fatal(str(exc), str(exc))
            return False
        if self._fatal_logged is not None:
            log.info("http: the API at %s accepts this host again", self.server)
            self._fatal_logged = None
        self.refused.reset()
        self.backoff.reset()
        self.health.api_ok()
        return self.pending is None or self.pending.digest() == self.acked_digest

    def _log_fatal(self, line: str, key: str) -> None:
        """Log a refusal once; the same refusal again is only a debug line."""
        if self._fatal_logged == key:
            log.debug("http: still refused: %s", key)
            return
        self._fatal_logged = key
        log.error("http: %s", line)

    def _failed(self, exc: HttpError) -> None:
        self.health.api_failed(str(exc))
        delay = self.backoff.next_delay()
        if exc.retry_after is not None:
            delay = exc.retry_after
        self.blocked_until = self.clock() + delay
        log.warning("http: %s; retrying in %.1fs", exc, delay)

    # Requests ---------------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.ssl if self.ssl is not None else True),
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, auth: bool = True
    ) -> tuple[int, dict[str, Any]]:
        status, data = await self._request(method, path, body, auth)
        return status, data if isinstance(data, dict) else {"detail": data}

    async def call_json(self, method: str, path: str, body: Any) -> Any:
        """A node request whose answer may be a list (the benchmark results store); HttpError
        on an error answer."""
        _, data = await self._request(method, path, body)
        return data

    async def _request(
        self, method: str, path: str, body: Any, auth: bool = True
    ) -> tuple[int, Any]:
        headers = {}
        if auth and self.credentials is not None:
            headers["Authorization"] = f"Bearer {self.credentials.token}"
        try:
            async with self._client().request(
                method, self.server + path, json=body, headers=headers
            ) as response:
                text = await response.text()
                try:
                    data = json.loads(text) if text else {}
                except ValueError:
                    data = {"detail": text[:200]}
                if response.status >= 400:
                    retry = response.headers.get("Retry-After")
                    detail = data.get("detail", response.reason) if isinstance(data, dict) else data
                    raise HttpError(
                        response.status,
                        f"{method} {path}: {detail}",
                        float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
                    )
                return response.status, data
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise HttpError(0, f"{method} {path}: {exc or type(exc).__name__}") from exc

    async def _enroll(self) -> None:
        if not self.enroll_token:
            raise FatalReportError(
                "no node token: give --token, or --enroll-token to enroll this host"
            )
        machine_id = self.pending.hardware.os.machine_id if self.pending is not None else None
        body = {
            "enrollmentToken": self.enroll_token,
            "hostId": self.host_id,
            "displayName": self.display_name,
            "labels": self.labels,
            "machineId": machine_id,
            "replace": self.replace,
        }
        try:
            _, data = await self._call("POST", "/api/v1/agents/enroll", body, auth=False)
        except HttpError as exc:
            if exc.status == 409:
                raise FatalReportError(
                    f"enrollment refused: {exc} (restart the agent with the fix; "
                    "`obt agent --help` lists --host-id and --replace)"
                ) from exc
            if exc.status in (401, 403, 422):
                raise FatalReportError(f"enrollment refused: {exc}") from exc
            raise
        self.credentials = NodeCredentials(
            self.server, str(data["nodeName"]), str(data["token"]), token_id(self.enroll_token)
        )
        path = save_state(self.data_dir, self.credentials)
        log.info("http: enrolled as %s; node token saved in %s", self.credentials.node_name, path)

    def _node_path(self, action: str) -> str:
        assert self.credentials is not None
        return f"/api/v1/agents/{self.credentials.node_name}/{action}"

    async def _send_report(self, report: AgentReport) -> None:
        digest = report.digest()
        try:
            await self._call("PUT", self._node_path("report"), report.to_wire())
        except HttpError as exc:
            if exc.status in (401, 403):
                self._token_refused(exc)
            if exc.status in (413, 422):
                # Retrying the same report cannot help: wait until the report changes.
                self.rejected_digest = digest
                log.error("http: report %s rejected: %s", digest[:12], exc)
                self.health.api_failed(str(exc))
                return
            raise
        self.acked_digest = digest
        self.health.writes += 1
        if self.work is not None:
            self.work.worker.last_write = self.clock()  # the shared budget's write
        self.next_heartbeat = self.clock() + self.heartbeat_interval
        log.info("http: report %s accepted", digest[:12])

    async def _heartbeat(self) -> bool:
        """True when the server asks for the full report."""
        try:
            body: dict[str, Any] = {"digest": self.acked_digest or NO_DIGEST}
            if self.telemetry is not None:
                body["telemetry"] = self.telemetry.model_dump(by_alias=True, exclude_none=True)
            _, data = await self._call("POST", self._node_path("heartbeat"), body)
        except HttpError as exc:
            if exc.status in (401, 403):
                self._token_refused(exc)
            raise
        self.next_heartbeat = self.clock() + self.heartbeat_interval
        if self.work is not None:
            self.work.heard(data)
        if data.get("reportNeeded"):
            self.acked_digest = None
            # A report the server refused (413/422) is not sent again until it changes.
            return self.pending is None or self.pending.digest() != self.rejected_digest
        return False

    async def _work_step(self) -> None:
        """Fetch the work when due, then let the worker plan, act and write."""
        assert self.work is not None
        if self.credentials is None or not self.work.supported:
            return
        if self.work.fetch_due() <= self.clock():
            try:
                _, data = await self._call("GET", self._node_path("work"), None)
            except HttpError as exc:
                if exc.status in (404, 405):
                    self.work.unsupported(str(exc))
                    return
                if exc.status in (401, 403):
                    self._token_refused(exc)
                raise
            self.work.take(data)
        await self.work.worker.step()

    async def send_activity(self, activity: list[Any]) -> None:
        """The worker's sink: the whole list (at most 20 entries) in one PUT."""
        body = {"activity": [a.to_wire() for a in activity]}
        await self._call("PUT", self._node_path("activity"), body)
        self.health.writes += 1
        if self.work is not None:
            self.work.save(activity)

    def _token_refused(self, exc: HttpError) -> None:
        """A 401/403 on a node request: enroll again only with an enrollment token this host
        has not used yet (a person handed out a new one); else TokenRefused."""
        assert self.credentials is not None
        node = self.credentials.node_name
        fresh = self.enroll_token and token_id(self.enroll_token) != (
            self.credentials.enroll_token_id
        )
        if fresh and exc.status == 401:
            log.warning(
                "http: node token of %s refused; enrolling again with enrollment token %s",
                node,
                token_id(self.enroll_token or ""),
            )
            self.credentials = None
            return
        if exc.status == 403:
            raise TokenRefused(
                f"the API at {self.server} says this host's node token belongs to another "
                f"node, not {node!r} ({exc}). To re-enroll, create an enrollment token on the "
                f"server (obt enroll-token create) and restart this agent with it: obt agent "
                f"--server {self.server} --enroll-token TOKEN"
            ) from exc
        raise TokenRefused(
            f"the API at {self.server} no longer accepts this host's node token (node {node!r} "
            f"was revoked or decommissioned, or the server does not know it; {exc}). This "
            "agent does not re-enroll with an enrollment token it already used. To re-enroll, "
            "create an enrollment token on the server (obt enroll-token create) and restart this "
            f"agent with it: obt agent --server {self.server} --enroll-token TOKEN"
        ) from exc

    async def close(self) -> None:
        if self.work is not None:
            await self.work.worker.close()
        if self._session is not None:
            await self._session.close()
