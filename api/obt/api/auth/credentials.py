"""API tokens and sign-in sessions in the database: create, check, revoke.

Token format `obt_<id>.<secret>`: the id finds the row, the secret's sha256 is compared in
constant time. Nothing here logs or returns a secret after creation.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from obt.api.auth.roles import Role
from obt.api.db.tables import ApiToken, AuthSession
from obt.api.security import hash_token

TOKEN_PREFIX = "obt_"
_ALPHABET = string.ascii_lowercase + string.digits
LAST_USED_EVERY_SECONDS = 60.0
"""`lastUsedAt` is written at most this often per token (reads stay cheap)."""


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def looks_like_api_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and "." in token


async def create_token(
    session: AsyncSession, role: Role, description: str, ttl_seconds: int | None, now: datetime
) -> tuple[ApiToken, str]:
    token_id = _random(10)
    secret = secrets.token_urlsafe(32)
    row = ApiToken(
        token_id=token_id,
        secret_hash=hash_token(secret),
        role=role.value,
        description=description,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds) if ttl_seconds else None,
        revoked_at=None,
        last_used_at=None,
    )
    session.add(row)
    return row, f"{TOKEN_PREFIX}{token_id}.{secret}"


@dataclass(frozen=True)
class Refused:
    """Why a credential was refused (never containing the secret)."""

    reason: str


def token_state(row: ApiToken | None, now: datetime) -> Refused | None:
    if row is None:
        return Refused("unknown token")
    if row.revoked_at is not None:
        return Refused(f"token {row.token_id} was revoked at {row.revoked_at.isoformat()}")
    if row.expires_at is not None and row.expires_at <= now:
        return Refused(f"token {row.token_id} expired at {row.expires_at.isoformat()}")
    return None


async def check_token(session: AsyncSession, token: str, now: datetime) -> ApiToken | Refused:
    """The token's row, or why it is refused."""
    token_id, _, secret = token.removeprefix(TOKEN_PREFIX).partition(".")
    row = await session.get(ApiToken, token_id) if 1 <= len(token_id) <= 12 else None
    if row is None or not secrets.compare_digest(row.secret_hash, hash_token(secret)):
        return Refused("unknown token")
    return token_state(row, now) or row


class LastUsed:
    """Remembers when each token's `last_used_at` was last written (once a minute at most)."""

    def __init__(self) -> None:
        self._written: dict[str, float] = {}

    async def touch(self, session: AsyncSession, token_id: str, now: datetime) -> None:
        mono = time.monotonic()
        if mono - self._written.get(token_id, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
            return
        self._written[token_id] = mono
        await session.execute(
            update(ApiToken).where(ApiToken.token_id == token_id).values(last_used_at=now)
        )
        await session.commit()


async def create_session(
    session: AsyncSession, token_id: str, name: str, role: Role, ttl_seconds: int, now: datetime
) -> tuple[AuthSession, str, str]:
    """(row, cookie secret, CSRF token)."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    row = AuthSession(
        session_id=_random(16),
        secret_hash=hash_token(cookie),
        csrf_hash=hash_token(csrf),
        token_id=token_id,
        name=name[:256],
        role=role.value,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
        revoked_at=None,
    )
    session.add(row)
    # Expired sessions go when new ones come: the table stays small without a sweeper.
    await session.execute(
        delete(AuthSession).where(AuthSession.expires_at < now - timedelta(days=1))
    )
    return row, cookie, csrf
