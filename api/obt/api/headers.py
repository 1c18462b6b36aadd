"""Security headers on every response (dashboard, API, heartbeats): plain ASGI, the headers
computed once, so a heartbeat pays one list concatenation.

The Content-Security-Policy allows only the app's own scripts and styles. The dashboard's build
has inline scripts (SvelteKit's bootstrap, the theme switch before first paint) and one style
attribute: their sha256 are read from the built HTML when the app is created and allowed by hash
(`inline_hashes`), so a rebuilt dashboard needs no configuration. FastAPI's /docs and /redoc load
Swagger UI / ReDoc from cdn.jsdelivr.net with an inline starter script: those two pages get a
policy that allows exactly that. HSTS is sent only over TLS: native (`--tls-cert`) or a trusted
proxy's `X-Forwarded-Proto: https` (uvicorn's proxy headers set the scheme).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.types import Message, Receive, Scope, Send

_BASE = (
    "default-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    b"style-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: "
    b"https://fastapi.tiangolo.com https://cdn.redoc.ly; worker-src 'self' blob:; "
    b"font-src 'self' https://fonts.gstatic.com; object-src 'none'; frame-ancestors 'none'"
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_STYLE_ATTR = re.compile(rb"""\sstyle=(?:"([^"]*)"|'([^']*)')""", re.I)


def _source(text: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'"


def inline_hashes(root: Path) -> list[str]:
    """CSP sources ('sha256-...') of the inline scripts and of the static style attributes in
    the build under `root`: SvelteKit's shell has a theme script, the bootstrap script and a
    `<div style="display: contents">`; its root component's template has the route announcer's
    `style="position: absolute; ..."`. Style attributes set at run time are not allowed (set
    styles through CSSOM, as VramBar does)."""
    hashes: set[str] = set()
    for page in sorted(root.glob("*.html")):
        html = page.read_bytes()
        hashes.update(_source(body) for body in _INLINE_SCRIPT.findall(html) if body.strip())
        hashes.update("style:" + _source(a or b) for a, b in _STYLE_ATTR.findall(html))
    for script in sorted(root.glob("_app/**/*.js")):
        templates = script.read_bytes()
        hashes.update("style:" + _source(a or b) for a, b in _STYLE_ATTR.findall(templates))
    return sorted(hashes)


def content_security_policy(hashes: Sequence[str] = ()) -> str:
    """script-src and style-src: 'self' plus the hashes of the shell's inline parts (style
    attribute hashes need 'unsafe-hashes', which allows those exact attributes, nothing else)."""
    scripts = ["'self'", *(h for h in hashes if not h.startswith("style:"))]
    styles = ["'self'"]
    attrs = [h.removeprefix("style:") for h in hashes if h.startswith("style:")]
    if attrs:
        styles += ["'unsafe-hashes'", *attrs]
    return f"script-src {' '.join(scripts)}; style-src {' '.join(styles)}; {_BASE}"


class SecurityHeaders:
    """Adds CSP, nosniff, Referrer-Policy, X-Frame-Options (and HSTS over TLS) to every response
    that has none yet."""

    def __init__(self, app: Any, hashes: Sequence[str] = ()) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(hashes).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]
        self.docs_headers = [(b"content-security-policy", _DOCS_CSP), *self.headers[1:]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = self.docs_headers if path in ("/docs", "/redoc") else self.headers
        if scope.get("scheme") == "https":
            extra = [*extra, HSTS]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                # Added once: the heartbeat's fallback passes through this middleware twice.
                if not any(name == b"x-content-type-options" for name, _ in headers):
                    message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
