"""`obt token`: create, list and revoke enrollment tokens for standalone hosts.

Talks to a running OBT API over HTTP with the standard library only, so it works wherever `obt`
is installed. The admin token comes from --admin-token, OBT_API__ADMIN_TOKEN (or the file in
OBT_API__ADMIN_TOKEN_FILE), or the file that `obt serve` keeps in its data directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from obt.cli.client import DEFAULT_SERVER, call, server_option

__all__ = ["DEFAULT_SERVER", "command", "parse_duration", "server_option"]


def _data_dir_token(data_dir: Path | None) -> str | None:
    if data_dir is None:
        try:
            import platformdirs
        except ImportError:  # an agent-only install has no local server to read from
            return None
        data_dir = Path(platformdirs.user_data_dir("obt", appauthor=False))
    path = data_dir / "admin-token"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _env_token() -> str | None:
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


def _admin_token(explicit: str | None, data_dir: Path | None) -> str:
    token = explicit or _env_token() or _data_dir_token(data_dir)
    if not token:
        raise click.UsageError(
            "no admin token: pass --admin-token, set OBT_API__ADMIN_TOKEN (or "
            "OBT_API__ADMIN_TOKEN_FILE), or run this on the machine where `obt serve` keeps it "
            "(its --data-dir)"
        )
    return token


def _call(server: str, token: str, method: str, path: str, body: Any = None) -> Any:
    return call(server, method, path, body=body, token=token)


admin_option = click.option(
    "--admin-token",
    default=None,
    help="Admin token (default: $OBT_API__ADMIN_TOKEN, $OBT_API__ADMIN_TOKEN_FILE or the local one).",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory of the local `obt serve` holding the admin token.",
)


def admin_api_options(command: Any) -> Any:
    """--server, --admin-token and --data-dir: what every admin command needs."""
    return server_option(admin_option(data_dir_option(command)))


@click.group(name="token")
def command() -> None:
    """Enrollment tokens: how a new host joins the fleet.

    \b
    On the machine running `obt serve`:
      obt token create
    then on the new host run the `obt agent ...` line it prints.
    """


@command.command(name="create")
@server_option
@admin_option
@data_dir_option
@click.option("--ttl", default="24h", show_default=True, help="Lifetime: seconds, or with s/m/h/d.")
@click.option(
    "--description", default="", help="What the token is for (shown in `obt token list`)."
)
def create(
    server: str, admin_token: str | None, data_dir: Path | None, ttl: str, description: str
) -> None:
    """Create an enrollment token and print the command that enrolls a host with it."""
    seconds = parse_duration(ttl)
    token = _admin_token(admin_token, data_dir)
    created = _call(
        server,
        token,
        "POST",
        "/api/v1/enrollment-tokens",
        {"description": description, "ttlSeconds": seconds},
    )
    click.echo(f"Enrollment token {created['tokenId']} (expires {created['expiresAt']}):")
    click.echo(f"  {created['token']}")
    click.echo("On the host to add (reachable address of this server instead of 127.0.0.1):")
    click.echo(f"  obt agent --server {server} --enroll-token {created['token']}")


@command.command(name="list")
@server_option
@admin_option
@data_dir_option
def list_(server: str, admin_token: str | None, data_dir: Path | None) -> None:
    """List enrollment tokens (their secrets are never shown again)."""
    rows = _call(server, _admin_token(admin_token, data_dir), "GET", "/api/v1/enrollment-tokens")
    if not rows:
        click.echo("no enrollment tokens")
        return
    click.echo(f"{'ID':<8} {'EXPIRES':<26} {'REVOKED':<8} {'USES':>4}  DESCRIPTION")
    for row in rows:
        click.echo(
            f"{row['tokenId']:<8} {row['expiresAt']:<26} {'yes' if row.get('revokedAt') else 'no':<8} "
            f"{row.get('uses', 0):>4}  {row.get('description') or ''}"
        )


@command.command(name="revoke")
@click.argument("token_id")
@server_option
@admin_option
@data_dir_option
def revoke(token_id: str, server: str, admin_token: str | None, data_dir: Path | None) -> None:
    """Revoke the enrollment token TOKEN_ID (the 6 characters before the dot)."""
    _call(
        server,
        _admin_token(admin_token, data_dir),
        "DELETE",
        f"/api/v1/enrollment-tokens/{token_id.split('.')[0]}",
    )
    click.echo(f"revoked {token_id.split('.')[0]}")


def parse_duration(text: str) -> int:
    """'90' -> 90, '15m' -> 900, '24h' -> 86400, '7d' -> 604800."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    factor = units.get(value[-1:])
    number = value[:-1] if factor else value
    try:
        seconds = int(float(number) * (factor or 1))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration like 3600, 30m, 24h or 7d") from None
    if seconds <= 0:
        raise click.BadParameter(f"{text!r}: the lifetime must be positive")
    return seconds
