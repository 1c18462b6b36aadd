"""`obt token`: API tokens with a role, for people and scripts (the admin role).

`obt token create --role viewer|operator|admin` makes one; `list` and `revoke ID` manage them.
Enrollment tokens (how a host joins) moved to `obt enroll-token`; for one release,
`obt token create` without --role still makes an enrollment token (with a deprecation note)
and `obt token revoke` of a 6-character enrollment token id still revokes it.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from obt.cli.client import DEFAULT_SERVER, api_options, call, need_token, server_option
from obt.cli.enroll_token import (
    create_enrollment_token,
    parse_duration,
    revoke_enrollment_token,
)

__all__ = ["DEFAULT_SERVER", "command", "parse_duration", "server_option"]

ROLES = ("viewer", "operator", "admin")
_ENROLLMENT_ID = re.compile(r"^[a-z0-9]{6}(\.[a-z0-9]{16})?$")


def _deprecated(instead: str) -> None:
    click.echo(
        f"note: enrollment tokens moved to `obt enroll-token`; use `{instead}` "
        "(this form goes away in the next release)",
        err=True,
    )


@click.group(name="token")
def command() -> None:
    """API tokens for people and scripts, each with a role (the admin role).

    \b
      obt token create --role viewer --description "grafana"   shown once
      obt token list                                         never the secrets
      obt token revoke ID                                    stops working at once
    Send one with --token or $OBT_TOKEN; the dashboard signs in with one.
    Enrollment tokens for new hosts: `obt enroll-token create`.
    """


@command.command(name="create")
@api_options
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=None,
    help="viewer: read; operator: also model operations; admin: also tokens and nodes. "
    "Without --role: an enrollment token (deprecated, see `obt enroll-token`).",
)
@click.option("--ttl", default=None, help="Lifetime: seconds, or with s/m/h/d (default: none).")
@click.option("--description", default="", help="Who or what the token is for.")
def create(
    server: str,
    token: str | None,
    data_dir: Path | None,
    role: str | None,
    ttl: str | None,
    description: str,
) -> None:
    """Create an API token with a role; the token is printed once."""
    if role is None:
        _deprecated("obt enroll-token create")
        create_enrollment_token(server, token, data_dir, ttl or "24h", description)
        return
    body: dict[str, object] = {"role": role, "description": description}
    if ttl is not None:
        body["ttlSeconds"] = parse_duration(ttl)
    made = call(server, "POST", "/api/v1/tokens", body=body, token=need_token(token, data_dir))
    expires = made.get("expiresAt") or "never"
    click.echo(f"API token {made['id']} (role {made['role']}, expires {expires}), shown once:")
    click.echo(f"  {made['token']}")
    click.echo("Use it with --token or OBT_TOKEN, or sign in to the dashboard with it.")


@command.command(name="list")
@api_options
def list_(server: str, token: str | None, data_dir: Path | None) -> None:
    """List API tokens: id, role, expiry, last use (never the secrets)."""
    rows = call(server, "GET", "/api/v1/tokens", token=need_token(token, data_dir))
    if not rows:
        click.echo("no API tokens (enrollment tokens: `obt enroll-token list`)")
        return
    click.echo(
        f"{'ID':<12} {'ROLE':<9} {'EXPIRES':<26} {'LAST USED':<26} {'REVOKED':<8} DESCRIPTION"
    )
    for row in rows:
        click.echo(
            f"{row['id']:<12} {row['role']:<9} {row.get('expiresAt') or 'never':<26} "
            f"{row.get('lastUsedAt') or 'never':<26} {'yes' if row.get('revokedAt') else 'no':<8} "
            f"{row.get('description') or ''}"
        )


@command.command(name="revoke")
@click.argument("token_id")
@api_options
def revoke(token_id: str, server: str, token: str | None, data_dir: Path | None) -> None:
    """Revoke the API token TOKEN_ID (as `obt token list` shows it)."""
    if _ENROLLMENT_ID.match(token_id):
        _deprecated("obt enroll-token revoke")
        revoke_enrollment_token(token_id, server, token, data_dir)
        return
    short = token_id.removeprefix("obt_").split(".")[0]
    call(server, "DELETE", f"/api/v1/tokens/{short}", token=need_token(token, data_dir))
    click.echo(f"revoked API token {short}")
