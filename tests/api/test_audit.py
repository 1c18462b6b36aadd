"""The audit trail: state-changing requests are recorded (who, what, outcome, never a secret),
read by admins only, filtered and paged, and pruned in batches past the retention."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from obt.api.audit import AuditPruner, prune
from obt.api.db.tables import AuditEntry
from obt.api.nodes.store import utcnow
from obt.api.settings import AuditGroup
from tests.api.conftest import ADMIN, Api, empty_tables, make_settings, running_api
from tests.api.test_agents import enroll
from tests.api.test_auth_roles import api_token


def entry_at(at: datetime) -> AuditEntry:
    return AuditEntry(
        at=at, actor_kind="token", actor_id="admin", actor_name="admin", role="admin",
        action="seedNodes", method="POST", path="/api/v1/admin/seed", target="", status=200,
        client="127.0.0.1",
    )  # fmt: skip


async def entries(api: Api, **params: str | int) -> dict:  # type: ignore[type-arg]
    r = await api.client.get("/api/v1/audit", params=params, headers=api.admin)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_state_changing_requests_are_recorded_without_secrets(api: Api) -> None:
    viewer = await api_token(api, "viewer")
    viewer_id = viewer.removeprefix("obt_").split(".")[0]
    # A sign-in records the token's id, never the token.
    r = await api.client.post("/api/v1/auth/session", json={"token": viewer})
    assert r.status_code == 200, r.text
    # A refused action is recorded with its status and who was refused.
    r = await api.client.post(
        "/api/v1/tokens", json={"role": "admin"}, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert r.status_code == 403
    # Node traffic is not an action: enrollment and reports are not recorded.
    node, _ = await enroll(api, "audited-node")
    r = await api.client.delete(f"/api/v1/nodes/{node}", headers=api.admin)
    assert r.status_code in (200, 204), r.text
    # Reads are not recorded.
    await api.client.get("/api/v1/nodes", headers=api.admin)

    page = await entries(api)
    actions = [e["action"] for e in page["items"]]
    assert "enrollAgent" not in actions and "putAgentReport" not in actions
    assert "listNodes" not in actions
    assert actions[0] == "decommissionNode"  # newest first
    removal = page["items"][0]
    assert removal["target"] == f"name={node}" and removal["actorId"] == "admin"
    assert removal["role"] == "admin" and removal["client"] == "127.0.0.1"
    refused = next(e for e in page["items"] if e["status"] == 403)
    assert refused["action"] == "createApiToken" and refused["actorId"] == viewer_id
    assert refused["role"] == "viewer"
    signin = next(e for e in page["items"] if e["action"] == "createSession")
    assert signin["actorId"] == viewer_id and signin["target"] == f"tokenId={viewer_id}"
    assert signin["status"] == 200
    created = [e for e in page["items"] if e["action"] == "createApiToken" and e["status"] == 201]
    assert created and created[0]["target"] == f"tokenId={viewer_id}"
    secret = viewer.split(".")[1]
    assert all(secret not in str(e) and ADMIN not in str(e) for e in page["items"])


async def test_filters_and_paging(api: Api) -> None:
    for _ in range(3):
        r = await api.client.post("/api/v1/tokens", json={"role": "viewer"}, headers=api.admin)
        assert r.status_code == 201
    r = await api.client.post("/api/v1/tokens", json={"role": "nobody"}, headers=api.admin)
    assert r.status_code == 422
    everything = await entries(api)
    assert everything["total"] == 4
    first = await entries(api, limit=2, offset=0)
    second = await entries(api, limit=2, offset=2)
    assert first["total"] == 4 and len(first["items"]) == 2 and len(second["items"]) == 2
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == [e["id"] for e in everything["items"]]
    assert (await entries(api, outcome="4xx"))["total"] == 1
    assert (await entries(api, outcome="2xx"))["total"] == 3
    assert (await entries(api, action="createApiToken", actor="admin"))["total"] == 4
    assert (await entries(api, actor="someone-else"))["total"] == 0
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert (await entries(api, since=future))["total"] == 0
    assert (await entries(api, until=future))["total"] == 4
    r = await api.client.get("/api/v1/audit", params={"outcome": "bad"}, headers=api.admin)
    assert r.status_code == 422 and "outcome" in r.json()["detail"]


async def test_only_admins_read_the_trail(api: Api) -> None:
    operator = await api_token(api, "operator")
    r = await api.client.get("/api/v1/audit", headers={"Authorization": f"Bearer {operator}"})
    assert r.status_code == 403 and "admin role" in r.json()["detail"]
    assert (await api.client.get("/api/v1/audit")).status_code == 401


async def stop_background_pruning(api: Api) -> None:
    """The app's own loop prunes at start too: stop it so that it cannot race the test's."""
    assert api.state.audit_pruner is not None
    await api.state.audit_pruner.stop()


async def test_pruning_deletes_old_entries_in_batches(api: Api) -> None:
    await stop_background_pruning(api)
    now = utcnow()
    async with api.state.sessions() as session:
        for i in range(25):
            session.add(entry_at(now - timedelta(days=100 if i < 17 else 1)))
        await session.commit()
    # Batches of 5: 17 old rows take four statements; the young ones stay.
    assert await prune(api.state.sessions, now - timedelta(days=90), batch=5) == 17
    async with api.state.sessions() as session:
        left = (await session.execute(select(func.count(AuditEntry.id)))).scalar_one()
    assert left == 8
    pruner = AuditPruner(api.state.sessions, AuditGroup(retention_seconds=3600))
    assert await pruner.run_once() == 8


async def test_the_background_loop_prunes_with_the_configured_retention(db_url: str) -> None:
    settings = make_settings(db_url, audit={"retention_seconds": 3600, "prune_batch": 2})
    async with running_api(settings) as api:
        await stop_background_pruning(api)
        await empty_tables(api.state.engine)
        async with api.state.sessions() as session:
            for age in (2, 3, 4, 0):
                session.add(entry_at(utcnow() - timedelta(hours=age)))
            await session.commit()
        # The loop, as the app runs it (its settings, a short interval), prunes on its own.
        group = settings.api.audit.model_copy(update={"prune_interval_seconds": 0.05})
        pruner = AuditPruner(api.state.sessions, group)
        pruner.start()
        try:
            for _ in range(600):  # a generous bound: 30 s
                if (await entries(api))["total"] == 1:
                    break
                await asyncio.sleep(0.05)
        finally:
            await pruner.stop()
        assert (await entries(api))["total"] == 1


def test_retention_defaults_to_ninety_days() -> None:
    assert AuditGroup().retention_seconds == 90 * 86400
    settings = make_settings("sqlite+aiosqlite:///:memory:")
    assert settings.api.audit.retention_seconds == 90 * 86400


async def test_a_proxy_user_is_recorded_by_name(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}",
        auth={
            "anonymous_read": False,
            "proxy": {
                "user_header": "X-Forwarded-User",
                "trusted": ["127.0.0.1"],
                "default_role": "admin",
            },
        },
    )
    async with running_api(settings) as api:
        r = await api.client.post(
            "/api/v1/enrollment-tokens", json={}, headers={"X-Forwarded-User": "alice"}
        )
        assert r.status_code == 201, r.text
        (entry,) = (await entries(api, action="createEnrollmentToken"))["items"]
        assert entry["actorKind"] == "proxy" and entry["actorId"] == "alice"
        assert entry["role"] == "admin" and entry["status"] == 201
        assert r.json()["token"] not in str(entry)
