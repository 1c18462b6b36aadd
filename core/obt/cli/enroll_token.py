"""`obt enroll-token`: create, list and revoke enrollment tokens for standalone hosts (admin).

Talks to a running OBT API over HTTP with the standard library only (obt.cli.client), so it
works wherever `obt` is installed.
"""

from __future__ import annotations

from pathlib import Path

import click

from obt.cli.client import api_options, call, need_token


@click.group(name="enroll-token")
def command() -> None:
    """Enrollment tokens: how a new host joins the fleet (the admin role).

    \b
    On the machine running `obt serve`:
      obt enroll-token create
    then on the new host run the `obt agent ...` line it prints.
    """


def create_enrollment_token(
    server: str, token: str | None, data_dir: Path | None, ttl: str, description: str
) -> None:
    seconds = parse_duration(ttl)
    created = call(
        server,
        "POST",
        "/api/v1/enrollment-tokens",
        body={"description": description, "ttlSeconds": seconds},
        token=need_token(token, data_dir),
    )
    click.echo(f"Enrollment token {created['tokenId']} (expires {created['expiresAt']}):")
    click.echo(f"  {created['token']}")
    click.echo("On the host to add (reachable address of this server instead of 127.0.0.1):")
    click.echo(f"  obt agent --server {server} --enroll-token {created['token']}")


@command.command(name="create")
@api_options
@click.option("--ttl", default="24h", show_default=True, help="Lifetime: seconds, or with s/m/h/d.")
@click.option(
    "--description", default="", help="What the token is for (shown in `obt enroll-token list`)."
)
def create(
    server: str, token: str | None, data_dir: Path | None, ttl: str, description: str
) -> None:
    """Create an enrollment token and print the command that enrolls a host with it."""
    create_enrollment_token(server, token, data_dir, ttl, description)


@command.command(name="list")
@api_options
def list_(server: str, token: str | None, data_dir: Path | None) -> None:
    """List enrollment tokens (their secrets are never shown again)."""
    rows = call(server, "GET", "/api/v1/enrollment-tokens", token=need_token(token, data_dir))
    if not rows:
        click.echo("no enrollment tokens")
        return
    click.echo(f"{'ID':<8} {'EXPIRES':<26} {'REVOKED':<8} {'USES':>4}  DESCRIPTION")
    for row in rows:
        click.echo(
            f"{row['tokenId']:<8} {row['expiresAt']:<26} {'yes' if row.get('revokedAt') else 'no':<8} "
            f"{row.get('uses', 0):>4}  {row.get('description') or ''}"
        )


def revoke_enrollment_token(
    token_id: str, server: str, token: str | None, data_dir: Path | None
) -> None:
    short = token_id.split(".")[0]
    call(server, "DELETE", f"/api/v1/enrollment-tokens/{short}", token=need_token(token, data_dir))
    click.echo(f"revoked enrollment token {short}")


@command.command(name="revoke")
@click.argument("token_id")
@api_options
def revoke(token_id: str, server: str, token: str | None, data_dir: Path | None) -> None:
    """Revoke the enrollment token TOKEN_ID (the 6 characters before the dot)."""
    revoke_enrollment_token(token_id, server, token, data_dir)


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
