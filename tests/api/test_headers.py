"""Security headers on every response: API, dashboard, heartbeat fast path, errors; HSTS only over
TLS (scheme https: native TLS, or a trusted proxy's X-Forwarded-Proto)."""

from __future__ import annotations

import base64
import hashlib
import urllib.request
from pathlib import Path

import httpx
import pytest

from obt.api.headers import inline_hashes
from tests.api.conftest import ADMIN, make_settings, running_api
from tests.api.test_proxy_headers import api_server

BOOT = "\n\t\t\t{ __sveltekit_x = { base: '' }; import('./app.js'); }\n\t\t"
SHELL = (
    '<!doctype html><html><head><script type="module" src="/x.js"></script></head>'
    f'<body><div style="display: contents"><script>{BOOT}</script></div></body></html>'
)


def check_headers(headers: httpx.Headers, *, hsts: bool) -> None:
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp, csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
    assert "frame-ancestors 'none'" in csp, csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert ("strict-transport-security" in headers) is hsts


async def test_every_kind_of_response_carries_the_headers(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}")
    async with running_api(settings) as api:
        for method, path in (
            ("GET", "/api/v1/nodes"),
            ("GET", "/api/v1/nodes/missing"),  # 404
            ("GET", "/healthz"),
            ("POST", "/api/v1/agents/nobody/heartbeat"),  # the fast path: 401
            ("DELETE", "/api/v1/admin/nodes/x"),  # 401 from the admin dependency
        ):
            r = await api.client.request(method, path, json={} if method == "POST" else None)
            check_headers(r.headers, hsts=False)
            assert r.status_code < 500, (path, r.status_code)


async def test_hsts_over_https_only(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}")
    async with running_api(settings) as api:
        transport = httpx.ASGITransport(app=api.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://obt.test") as tls:
            r = await tls.get("/api/v1/nodes")
            check_headers(r.headers, hsts=True)
            assert "max-age=" in r.headers["strict-transport-security"]


async def test_the_dashboard_inline_bootstrap_is_allowed_by_its_hash(tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    (build / "index.html").write_text(SHELL)
    digest = base64.b64encode(hashlib.sha256(BOOT.encode()).digest()).decode()
    style = base64.b64encode(hashlib.sha256(b"display: contents").digest()).decode()
    assert inline_hashes(build) == [f"'sha256-{digest}'", f"style:'sha256-{style}'"]
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}")
    async with running_api(settings, dashboard=build) as api:
        for path in ("/", "/nodes/some-node", "/api/v1/fleet/summary"):
            r = await api.client.get(path)
            check_headers(r.headers, hsts=False)
            csp = r.headers["content-security-policy"]
            assert f"script-src 'self' 'sha256-{digest}';" in csp, csp
            assert f"style-src 'self' 'unsafe-hashes' 'sha256-{style}';" in csp, csp
        # Swagger UI loads from its CDN with an inline starter: /docs alone allows that.
        docs = await api.client.get("/docs")
        assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def _get_headers(url: str, extra: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(url, headers=extra)
    with urllib.request.urlopen(request, timeout=5) as response:
        return {k.lower(): v for k, v in response.headers.items()}


@pytest.mark.slow
def test_hsts_behind_a_trusted_tls_proxy_only(tmp_path: Path) -> None:
    env = {"OBT_API__RATE_LIMIT__PER_IP_PER_MINUTE": "0", "OBT_API__ADMIN_TOKEN": ADMIN}
    proto = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with api_server(tmp_path, ["--forwarded-allow-ips", "127.0.0.1"], env) as url:
        assert "strict-transport-security" in _get_headers(f"{url}/api/v1/nodes", proto)
        assert "strict-transport-security" not in _get_headers(f"{url}/api/v1/nodes", {})
    # The same header from an untrusted peer is ignored.
    with api_server(tmp_path, [], {**env, "FORWARDED_ALLOW_IPS": "192.0.2.10"}) as url:
        headers = _get_headers(f"{url}/api/v1/nodes", proto)
        assert "strict-transport-security" not in headers
        assert headers["x-content-type-options"] == "nosniff"
