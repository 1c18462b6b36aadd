"""API tokens, dashboard sessions and their CSRF check, proxy sign-on, refusals and brute force."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from obt.api.db.tables import ApiToken, AuthSession
from obt.api.nodes.store import utcnow
from tests.api.conftest import Api, make_settings, running_api


@asynccontextmanager
async def closed_api(tmp_path: Path, **auth: Any) -> AsyncIterator[Api]:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}", auth={"anonymous_read": False, **auth}
    )
    async with running_api(settings) as api:
        yield api


def peer(api: Api, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address` (the direct peer, as uvicorn sees it)."""
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://obt.test")


async def create(api: Api, role: str, **body: Any) -> dict[str, Any]:
    r = await api.client.post("/api/v1/tokens", json={"role": role, **body}, headers=api.admin)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_auth_token_lifecycle_is_hashed_listed_without_secrets_and_revocable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with closed_api(tmp_path) as api:
        made = await create(api, "operator", description="ci script", ttlSeconds=3600)
        secret = made["token"]
        assert made["role"] == "operator" and made["expiresAt"] and made["id"] in secret
        auth = {"Authorization": f"Bearer {secret}"}
        assert (await api.client.get("/api/v1/nodes", headers=auth)).status_code == 200
        listed = (await api.client.get("/api/v1/tokens", headers=api.admin)).json()
        assert [t["id"] for t in listed] == [made["id"]]
        assert "token" not in listed[0] and listed[0]["lastUsedAt"] is not None
        async with api.state.sessions() as s:
            row = await s.get(ApiToken, made["id"])
            assert row is not None and row.secret_hash != secret.split(".")[1]
        r = await api.client.delete(f"/api/v1/tokens/{made['id']}", headers=api.admin)
        assert r.status_code == 204
        r = await api.client.get("/api/v1/nodes", headers=auth)
        assert r.status_code == 401 and "was revoked" in r.json()["detail"]
        r = await api.client.delete("/api/v1/tokens/nosuch", headers=api.admin)
        assert r.status_code == 404 and "nosuch" in r.json()["detail"]
        r = await api.client.post("/api/v1/tokens", json={"role": "root"}, headers=api.admin)
        assert r.status_code == 422 and "role" in r.json()["detail"]
    secret_part = secret.split(".")[1]
    assert all(secret_part not in rec.getMessage() for rec in caplog.records)
    assert any("was revoked" in rec.getMessage() for rec in caplog.records)


async def test_auth_expired_token_says_so(tmp_path: Path) -> None:
    async with closed_api(tmp_path) as api:
        made = await create(api, "viewer")
        async with api.state.sessions() as s:
            await s.execute(
                update(ApiToken)
                .where(ApiToken.token_id == made["id"])
                .values(expires_at=utcnow() - timedelta(minutes=1))
            )
            await s.commit()
        r = await api.client.get(
            "/api/v1/nodes", headers={"Authorization": f"Bearer {made['token']}"}
        )
        assert r.status_code == 401 and "expired at" in r.json()["detail"]
        r = await api.client.get("/api/v1/nodes", headers={"Authorization": "Bearer obt_x.y"})
        assert r.status_code == 401 and "unknown token" in r.json()["detail"]


async def test_auth_failed_checks_are_rate_limited_per_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    guess = "obt_abcdef.guessed-secret-value"
    async with closed_api(tmp_path, failed_per_ip_per_minute=6) as api:
        statuses = []
        for _ in range(4):
            r = await api.client.get("/api/v1/nodes", headers={"Authorization": f"Bearer {guess}"})
            statuses.append(r.status_code)
        assert statuses[0] == 401 and statuses[-1] == 429
        assert int(r.headers["retry-after"]) >= 1
        # Blocked: even the admin token from this address waits; another address does not.
        assert (await api.client.get("/api/v1/tokens", headers=api.admin)).status_code == 429
        async with peer(api, "127.0.0.9") as other:
            assert (await other.get("/api/v1/tokens", headers=api.admin)).status_code == 200
    assert any("refused Authorization" in rec.getMessage() for rec in caplog.records)
    assert all("guessed-secret-value" not in rec.getMessage() for rec in caplog.records)


async def sign_in(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    r = await client.post("/api/v1/auth/session", json={"token": token})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_auth_session_cookie_csrf_and_sign_out(tmp_path: Path) -> None:
    async with closed_api(tmp_path) as api:
        admin = await create(api, "admin", description="alice")
        async with peer(api, "127.0.0.2") as browser:
            r = await browser.get("/api/v1/auth/me")
            assert r.json() == {"principal": None, "anonymousRead": False}
            signed = await sign_in(browser, admin["token"])
            assert signed["principal"] == {
                "kind": "session", "id": admin["id"], "name": "alice", "role": "admin"
            }  # fmt: skip
            cookies = browser.cookies
            assert cookies["obt_csrf"] == signed["csrfToken"] and cookies["obt_session"]
            r = await browser.post("/api/v1/auth/session", json={"token": admin["token"]})
            set_cookie = r.headers.get_list("set-cookie")
            session_cookie = next(c for c in set_cookie if c.startswith("obt_session="))
            assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
            assert "Secure" not in session_cookie  # plain http here
            csrf = r.json()["csrfToken"]
            assert (await browser.get("/api/v1/tokens")).status_code == 200
            me = (await browser.get("/api/v1/auth/me")).json()
            assert me["principal"]["kind"] == "session" and me["principal"]["role"] == "admin"
            # A state-changing request by cookie needs the CSRF header ...
            r = await browser.post("/api/v1/tokens", json={"role": "viewer"})
            assert r.status_code == 403 and "CSRF" in r.json()["detail"]
            r = await browser.post(
                "/api/v1/tokens", json={"role": "viewer"}, headers={"X-CSRF-Token": "wrong"}
            )
            assert r.status_code == 403 and "CSRF" in r.json()["detail"]
            # ... and, with an Origin header, this origin.
            r = await browser.post(
                "/api/v1/tokens",
                json={"role": "viewer"},
                headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
            )
            assert r.status_code == 403 and "Origin" in r.json()["detail"]
            r = await browser.post(
                "/api/v1/tokens",
                json={"role": "viewer"},
                headers={"X-CSRF-Token": csrf, "Origin": "http://obt.test"},
            )
            assert r.status_code == 201
            # Signing out revokes the session server-side.
            stolen = browser.cookies["obt_session"]
            r = await browser.delete("/api/v1/auth/session", headers={"X-CSRF-Token": csrf})
            assert r.status_code == 204
            async with api.state.sessions() as s:
                rows = (await s.execute(AuthSession.__table__.select())).all()
                assert any(row.revoked_at is not None for row in rows)
        async with peer(api, "127.0.0.3") as thief:
            thief.cookies.set("obt_session", stolen)
            r = await thief.get("/api/v1/nodes")
            assert r.status_code == 401 and "signed out" in r.json()["detail"]


async def test_auth_session_dies_with_its_token_and_bearer_needs_no_csrf(tmp_path: Path) -> None:
    async with closed_api(tmp_path) as api:
        viewer = await create(api, "viewer")
        async with peer(api, "127.0.0.4") as browser:
            await sign_in(browser, viewer["token"])
            assert (await browser.get("/api/v1/nodes")).status_code == 200
            r = await browser.post("/api/v1/tokens", json={"role": "viewer"})
            assert r.status_code == 403  # CSRF first, then the role
            await api.client.delete(f"/api/v1/tokens/{viewer['id']}", headers=api.admin)
            r = await browser.get("/api/v1/nodes")
            assert r.status_code == 401 and "revoked" in r.json()["detail"]
        r = await api.client.post("/api/v1/tokens", json={"role": "viewer"}, headers=api.admin)
        assert r.status_code == 201  # bearer: no CSRF token needed
        r = await api.client.post("/api/v1/auth/session", json={"token": "nope"})
        assert r.status_code == 401


async def test_auth_proxy_headers_trusted_only_from_the_proxy(tmp_path: Path) -> None:
    proxy = {
        "user_header": "X-Forwarded-User",
        "groups_header": "X-Forwarded-Groups",
        "trusted": ["10.0.0.0/24"],
        "group_roles": {"obt-admins": "admin", "staff": "viewer"},
    }
    async with closed_api(tmp_path, proxy=proxy) as api:
        headers = {
            "X-Forwarded-User": "alice@example.com",
            "X-Forwarded-Groups": "staff,obt-admins",
        }
        async with peer(api, "10.0.0.7") as via_proxy:
            me = (await via_proxy.get("/api/v1/auth/me", headers=headers)).json()
            assert me["principal"] == {
                "kind": "proxy", "id": "alice@example.com", "name": "alice@example.com",
                "role": "admin",
            }  # fmt: skip
            assert (await via_proxy.get("/api/v1/tokens", headers=headers)).status_code == 200
            staff = {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "staff"}
            r = await via_proxy.get("/api/v1/tokens", headers=staff)
            assert r.status_code == 403 and "admin role" in r.json()["detail"]
            nobody = {"X-Forwarded-User": "eve", "X-Forwarded-Groups": "guests"}
            r = await via_proxy.get("/api/v1/nodes", headers=nobody)
            assert r.status_code == 403 and "has no role" in r.json()["detail"]
        # The same headers from any other address are ignored: anonymous, and reads are closed.
        async with peer(api, "10.0.1.7") as direct:
            me = (await direct.get("/api/v1/auth/me", headers=headers)).json()
            assert me["principal"] is None
            r = await direct.get("/api/v1/tokens", headers=headers)
            assert r.status_code == 401
        r = await api.client.get(
            "/api/v1/nodes", headers={**headers, "X-Forwarded-For": "10.0.0.7"}
        )
        assert r.status_code == 401


async def test_auth_proxy_default_role(tmp_path: Path) -> None:
    proxy = {"user_header": "X-Forwarded-User", "trusted": ["127.0.0.1"], "default_role": "viewer"}
    async with closed_api(tmp_path, proxy=proxy) as api:
        r = await api.client.get("/api/v1/nodes", headers={"X-Forwarded-User": "carol"})
        assert r.status_code == 200
        r = await api.client.get("/api/v1/tokens", headers={"X-Forwarded-User": "carol"})
        assert r.status_code == 403


def test_auth_settings_refuse_bad_proxy_addresses() -> None:
    with pytest.raises(ValueError, match="not an address or CIDR"):
        make_settings("sqlite+aiosqlite://", auth={"proxy": {"trusted": ["proxy.local"]}})
