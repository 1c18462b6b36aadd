"""Token hashing, per-token and per-address rate limits, request body limit (who may do what:
auth/access.py).

The guards run as plain ASGI middleware (no BaseHTTPMiddleware): they sit in front of every
heartbeat, and a heartbeat must cost almost nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException
from starlette.types import Receive, Scope, Send

from obt.api.settings import ApiSettings


def hash_token(token: str) -> str:
    """Stored form of a secret: sha256 hex (tokens are random, so no salt or slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class RateLimiter:
    """Token buckets keyed by string: `rate` requests per minute, bursts up to `rate / 6`
    (10 s worth), at least 1."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    def hit(self, key: str, per_minute: int) -> float | None:
        """None when allowed, else seconds to wait."""
        if per_minute <= 0:
            return None
        now = time.monotonic()
        rate = per_minute / 60.0
        capacity = max(1.0, per_minute / 6.0)
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:  # forget idle clients; full buckets are the default
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
        return None


def rate_limited(retry_after: float, what: str) -> tuple[str, str]:
    """(message, Retry-After value) for a request over a rate limit."""
    seconds = max(1, math.ceil(retry_after))
    return f"rate limit exceeded for this {what}; retry after {seconds}s", str(seconds)


def too_many(retry_after: float, what: str) -> HTTPException:
    detail, retry = rate_limited(retry_after, what)
    return HTTPException(429, detail, headers={"Retry-After": retry})


class _BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    """413 above the body limit (declared or streamed), 429 above the per-address rate."""

    def __init__(self, app: Any, settings: ApiSettings, limiter: RateLimiter) -> None:
        self.app = app
        self.max_body = settings.api.max_body_bytes
        self.per_ip = settings.api.rate_limit.per_ip_per_minute
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.per_ip and path.startswith("/api/") and path != "/api/v1/events":
            client = scope.get("client")
            wait = self.limiter.hit(f"ip:{client[0] if client else '-'}", self.per_ip)
            if wait is not None:
                detail, retry = rate_limited(wait, "address")
                await _reply(send, 429, {"detail": detail}, [(b"retry-after", retry.encode())])
                return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_body:
                    await _reply(send, 413, {"detail": self._too_large()}, [])
                    return
                break
        received = 0
        too_large = False
        replied = False

        async def limited_receive() -> Any:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    # The framework turns errors raised here into 400; flag it and answer
                    # 413 in place of whatever response the app then starts.
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal replied
            if too_large:
                if not replied:
                    replied = True
                    await _reply(send, 413, {"detail": self._too_large()}, [])
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not replied:
                await _reply(send, 413, {"detail": self._too_large()}, [])

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body} bytes (OBT_API__MAX_BODY_BYTES)"


async def _reply(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    await send_json(send, status, json.dumps(body).encode(), headers)


async def send_json(
    send: Any, status: int, payload: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A whole JSON response, straight to ASGI (the guards and the heartbeat fast path)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
