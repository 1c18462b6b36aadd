"""The one HTTP client of the `obt` commands that talk to a running OBT API (`obt token`,
`obt enroll-token`, `obt node`, `obt nodes`, `obt models`, `obt task`, `obt modelset`), and how they find their credential: the standard library only, so an agent-only install can run them.

Errors carry the exit code a script can rely on (documented in `obt nodes --help` and
docs/cli.md): 0 ok, 1 any other failure, 2 bad usage (also a query the server refuses with
400/422), 3 not found, 4 server unreachable.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click

DEFAULT_SERVER = "http://127.0.0.1:8881"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_UNREACHABLE = 4

EXIT_CODES_HELP = (
    "\b\nExit codes:\n"
    "  0  ok (also when no node matches: the table is empty)\n"
    "  1  any other error (the server failed, an unexpected answer)\n"
    "  2  bad usage: an unknown option, a malformed selector, a value the server refuses\n"
    "  3  not found: the named node or model is not in the inventory\n"
    "  4  the server cannot be reached (is `obt serve` running? --server / $OBT_SERVER)"
)


class CallFailed(click.ClickException):
    """A failed call to the OBT API (Kubernetes errors are `obt.core.kube.ApiError`); the
    subclass (and its `exit_code`) says which kind (EXIT_CODES_HELP)."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class BadRequest(CallFailed):
    exit_code = EXIT_USAGE


class NotFound(CallFailed):
    exit_code = EXIT_NOT_FOUND


class Unreachable(CallFailed):
    exit_code = EXIT_UNREACHABLE


def default_server() -> str:
    return os.environ.get("OBT_SERVER") or DEFAULT_SERVER


server_option = click.option(
    "--server",
    metavar="URL",
    default=default_server,
    show_default="$OBT_SERVER or " + DEFAULT_SERVER,
    help="The OBT API (the local `obt serve` by default).",
)


def _data_dir_token(data_dir: Path | None) -> str | None:
    """The admin token `obt serve` keeps in its data directory (this machine only)."""
    if data_dir is None:
        try:
            import platformdirs
        except ImportError:  # an agent-only install has no local server to read from
            return None
        data_dir = Path(platformdirs.user_data_dir("obt", appauthor=False))
    path = data_dir / "admin-token"
    try:
        return path.read_text(encoding="utf-8").strip() if path.is_file() else None
    except OSError:
        return None


def _env_admin_token() -> str | None:
    """OBT_API__ADMIN_TOKEN, or the file OBT_API__ADMIN_TOKEN_FILE names (as the API reads it)."""
    path = os.environ.get("OBT_API__ADMIN_TOKEN_FILE")
    if path and not os.environ.get("OBT_API__ADMIN_TOKEN"):
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.UsageError(
                f"OBT_API__ADMIN_TOKEN_FILE={path}: cannot read the file: {exc.strerror}"
            ) from exc
    return os.environ.get("OBT_API__ADMIN_TOKEN")


def find_token(explicit: str | None, data_dir: Path | None) -> str | None:
    """The credential to send: --token (or $OBT_TOKEN), else the admin token of this machine
    ($OBT_API__ADMIN_TOKEN, $OBT_API__ADMIN_TOKEN_FILE, or the file in `obt serve`'s data
    directory), else none (anonymous: reads work where anonymous read is on)."""
    return explicit or _env_admin_token() or _data_dir_token(data_dir)


def need_token(explicit: str | None, data_dir: Path | None) -> str:
    token = find_token(explicit, data_dir)
    if not token:
        raise click.UsageError(
            "no token: pass --token (or set $OBT_TOKEN) with an admin token from "
            "`obt token create --role admin`, or run this on the machine where `obt serve` "
            "keeps its admin token (its --data-dir)"
        )
    return token


token_option = click.option(
    "--token",
    "--admin-token",  # its name before API tokens had roles
    metavar="TOKEN",
    envvar="OBT_TOKEN",
    default=None,
    help="API token to send ($OBT_TOKEN; default: this machine's admin token when `obt serve` "
    "runs here, else none). --admin-token: its old name.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory of the local `obt serve` holding its admin token.",
)


def api_options(command: Any) -> Any:
    """--server, --token and --data-dir: what every command that talks to the API takes."""
    return server_option(token_option(data_dir_option(command)))


def _detail(error: urllib.error.HTTPError) -> str:
    text = error.read().decode(errors="replace")
    with contextlib.suppress(ValueError, AttributeError):
        body = json.loads(text)
        detail = body.get("detail", text)
        if isinstance(detail, list):  # FastAPI's 422: [{"loc": [...], "msg": ...}, ...]
            return "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
            )
        return str(detail)
    return text.strip() or error.reason


def call(
    server: str,
    method: str,
    path: str,
    *,
    params: list[tuple[str, str]] | None = None,
    body: Any = None,
    token: str | None = None,
    timeout: float = 15,
    raw: bool = False,
) -> Any:
    """One request; the JSON answer (`raw`: the text, e.g. a CSV export), or an CallFailed
    with the exit code for what went wrong."""
    if not server.startswith(("http://", "https://")):
        raise BadRequest(
            f"--server {server!r} is not an http:// or https:// URL (e.g. {DEFAULT_SERVER})"
        )
    url = server.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        detail = _detail(error)
        kind = {404: NotFound, 400: BadRequest, 422: BadRequest}.get(error.code, CallFailed)
        hint = ""
        if error.code == 401:
            hint = (
                " (pass --token or set $OBT_TOKEN; `obt token create --role viewer` makes one "
                "that reads, --role operator one that may also run model actions)"
            )
        raise kind(f"{method} {path}: HTTP {error.code}: {detail}{hint}", error.code) from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(
            f"cannot reach the OBT API at {server}: {reason}. Is it running? Start one with "
            "`obt serve`, or point --server (or $OBT_SERVER) at a running one."
        ) from error
    if raw:
        return text
    try:
        return json.loads(text) if text else None
    except ValueError as error:
        raise CallFailed(
            f"{method} {path}: {server} answered with something other than JSON; is it an OBT API?",
            EXIT_ERROR,
        ) from error
