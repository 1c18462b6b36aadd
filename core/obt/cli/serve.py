"""`obt serve`: the embedded default (API + dashboard + local agent on SQLite).

This module may import both obt.api and obt.agent (obt.api itself never imports the agent): it
wires the agent's detection loop into the API's ingest service in-process, with no HTTP and no
token in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from obt.api.cli import tls_arguments, tls_cert_option, tls_key_option

log = logging.getLogger("obt.serve")


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("obt", appauthor=False))


def admin_token(data_dir: Path) -> tuple[str, bool]:
    """The admin token kept in the data dir (mode 0600); (token, newly created)."""
    path = data_dir / "admin-token"
    if path.is_file():
        return path.read_text().strip(), False
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def _this_command() -> str:
    """How the person can call `obt` again: plain `obt` when it is on PATH, else its full path
    (after `make run` it lives in the project's .venv/bin)."""
    import shutil
    import sys

    found = shutil.which("obt")
    if found and Path(found).resolve() == Path(sys.argv[0]).resolve():
        return "obt"
    return sys.argv[0] if sys.argv[0].endswith("obt") else "obt"


def _loopback(host: str) -> bool:
    """127.0.0.1, ::1, localhost: only this machine can connect."""
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _local(host: str) -> str:
    """The address this machine reaches its own server at: a wildcard bind is not an address."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::", "[::]") else host


def local_agent_hook(interval: float | None = None) -> Callable[[Any], Awaitable[Any]]:
    """A start-up hook that runs this machine's agent inside the API process."""

    async def start(state: Any) -> Callable[[], Awaitable[None]]:
        from obt.agent.runner import make_detector
        from obt.agent.settings import AgentSettings
        from obt.api.agents.tokens import node_name_for

        settings = AgentSettings()
        detector = make_detector(settings, "embedded")
        host_id = settings.agent.host_id
        cred = state.ingest.embedded(node_name_for(host_id), host_id, settings.agent.display_name)
        every = interval or settings.agent.interval_seconds

        async def loop() -> None:
            while True:
                try:
                    report = await detector.detect()
                    # Unchanged reports are not written (digest); each one renews liveness.
                    await state.ingest.report(cred, report)
                    state.ingest.set_telemetry(cred, detector.telemetry())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("local agent cycle failed; retrying in %.0fs", every)
                await asyncio.sleep(every)

        task = asyncio.create_task(loop(), name="local-agent")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        return stop

    return start


def _settings_read_here(no_agent: bool) -> list[type[Any]]:
    """The settings classes this process reads: the API's, and the local agent's."""
    from obt.api.settings import ApiSettings

    if no_agent:
        return [ApiSettings]
    from obt.agent.settings import AgentSettings

    return [ApiSettings, AgentSettings]


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8881, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the SQLite database and admin token live (default: the user data dir).",
)
@click.option("--no-agent", is_flag=True, help="Do not report this machine.")
@tls_cert_option
@tls_key_option
@click.option(
    "--demo",
    is_flag=True,
    default=None,
    help="Demo mode: mount POST /api/v1/admin/seed, which writes fake nodes "
    "(or OBT_API__DEMO=true).",
)
def command(
    host: str,
    port: int,
    data_dir: Path | None,
    no_agent: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    demo: bool | None,
) -> None:
    """Run the API on 127.0.0.1:8881 with SQLite, serve the dashboard and report this machine.

    With --tls-cert and --tls-key it serves HTTPS; other hosts' agents then trust it with
    --ca-file when the certificate comes from a private CA (docs/install.md, "TLS").
    """
    import uvicorn

    from obt.api.settings import ApiSettings
    from obt.api.static import find_dashboard
    from obt.core.logging import configure_logging
    from obt.core.settings import warn_unknown_variables

    try:
        settings = ApiSettings()
        if not no_agent:  # read again by the local agent: fail here, with a clear message
            from obt.agent.settings import AgentSettings

            AgentSettings()
    except ValueError as exc:  # a *_FILE that cannot be read, a value that does not parse
        raise click.ClickException(str(exc)) from exc
    tls = tls_arguments(tls_cert or settings.api.tls_cert, tls_key or settings.api.tls_key)
    scheme = "https" if tls else "http"
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log)
    warn_unknown_variables(_settings_read_here(no_agent))
    overrides: dict[str, Any] = {}
    if "url" not in settings.database.model_fields_set:  # neither OBT_DATABASE__URL nor _FILE
        overrides["database"] = settings.database.model_copy(
            update={"url": f"sqlite+aiosqlite:///{data_dir / 'obt.db'}"}
        )
    auth = settings.api.auth
    if auth.anonymous_read is None:  # unset: open reads only where only this machine can read
        auth = auth.model_copy(update={"anonymous_read": _loopback(host)})
    api = settings.api.model_copy(
        update={"host": host, "port": port, "auth": auth, **({"demo": True} if demo else {})}
    )
    if api.admin_token is None:
        from pydantic import SecretStr

        token, created = admin_token(data_dir)
        api = api.model_copy(update={"admin_token": SecretStr(token)})
        if created:
            click.echo(
                f"Admin token (stored in {data_dir / 'admin-token'}, shown once):\n  {token}\n"
                "To add another host, create an enrollment token on this machine with:\n"
                f"  {_this_command()} enroll-token create --server {scheme}://{_local(host)}:{port}"
                + ("" if data_dir == default_data_dir() else f" --data-dir {data_dir}"),
                err=True,
            )
    settings = settings.model_copy(update={**overrides, "api": api})

    from obt.api.app import create_app

    dashboard = find_dashboard()
    try:
        app = create_app(
            settings,
            startup_hooks=[] if no_agent else [local_agent_hook()],
            dashboard=dashboard,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"OBT on {scheme}://{host}:{port}  (database {settings.database.url}; dashboard "
        f"{dashboard or 'not built: run make frontend-build'})",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, **tls)
