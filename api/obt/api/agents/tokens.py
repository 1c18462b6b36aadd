"""Enrollment tokens (bootstrap-token style) and per-node tokens."""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from obt.api.db.tables import EnrollmentToken
from obt.api.security import hash_token

_ALPHABET = string.ascii_lowercase + string.digits


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_enrollment_token() -> tuple[str, str]:
    """(token_id, secret): the token is f'{token_id}.{secret}'."""
    return _random(6), _random(16)


def new_node_token() -> str:
    return "obtn_" + secrets.token_urlsafe(32)


def node_name_for(host_id: str) -> str:
    """A DNS-1123 subdomain from a host id: 'Mac Studio (Office)' -> 'mac-studio-office'."""
    name = re.sub(r"[^a-z0-9.-]+", "-", host_id.lower()).strip("-.")
    name = re.sub(r"-{2,}", "-", name)[:253].strip("-.")
    return name or "host"


async def create(
    session: AsyncSession, description: str, ttl_s: int, now: datetime
) -> tuple[EnrollmentToken, str]:
    token_id, secret = new_enrollment_token()
    row = EnrollmentToken(
        token_id=token_id,
        secret_hash=hash_token(secret),
        description=description,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        revoked_at=None,
        uses=0,
    )
    session.add(row)
    return row, f"{token_id}.{secret}"


async def check(session: AsyncSession, token: str, now: datetime) -> EnrollmentToken | str:
    """The token's row, or why it is refused."""
    token_id, _, secret = token.partition(".")
    row = (
        await session.execute(select(EnrollmentToken).where(EnrollmentToken.token_id == token_id))
    ).scalar_one_or_none()
    if row is None or not secrets.compare_digest(row.secret_hash, hash_token(secret)):
        return "enrollmentToken: unknown token"
    if row.revoked_at is not None:
        return "enrollmentToken: this token was revoked"
    if row.expires_at <= now:
        return f"enrollmentToken: this token expired at {row.expires_at.isoformat()}"
    return row
