"""Must show 1: every operation in the OpenAPI document, called as every kind of caller, answers
as the role it declares (`x-obt-role`); an operation without a declared role fails the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ADMIN, Api, empty_tables, make_settings, served_api
from tests.api.test_agents import enroll

RANK = {"viewer": 0, "operator": 1, "admin": 2}
ROLES = {"viewer", "operator", "admin", "public", "node", "enrollment"}


async def api_token(api: Api, role: str) -> str:
    r = await api.client.post(
        "/api/v1/tokens", json={"role": role, "description": f"{role} caller"}, headers=api.admin
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def fixtures(api: Api) -> dict[str, Any]:
    """Real ids for every path parameter, and a credential per caller."""
    r = await api.client.post(
        "/api/v1/admin/seed", json={"count": 3, "models": 2}, headers=api.admin
    )
    assert r.status_code == 200, r.text
    seeded = r.json()["names"]
    models = (await api.client.get("/api/v1/models", headers=api.admin)).json()["items"]
    reporter, node_auth = await enroll(api, "reporter")
    victim, _ = await enroll(api, "victim")
    r = await api.client.post("/api/v1/enrollment-tokens", json={}, headers=api.admin)
    enrollment_id = r.json()["tokenId"]
    throwaway = (await api_token(api, "viewer")).removeprefix("obt_").split(".")[0]
    task = {
        "metadata": {"name": "roles-task"},
        "spec": {"action": "pull", "models": [{"name": "m"}], "nodes": seeded[:1]},
    }
    r = await api.client.post("/api/v1/tasks", json=task, headers=api.admin)
    assert r.status_code == 201, r.text
    mset = {"metadata": {"name": "roles-set"}, "spec": {"models": [{"name": "m"}]}}
    r = await api.client.post("/api/v1/modelsets", json=mset, headers=api.admin)
    assert r.status_code == 201, r.text
    callers: dict[str, dict[str, str]] = {"anonymous": {}, "node": node_auth}
    for role in ("viewer", "operator", "admin"):
        callers[role] = {"Authorization": f"Bearer {await api_token(api, role)}"}
    callers["admin-token"] = {"Authorization": f"Bearer {ADMIN}"}
    return {
        "callers": callers,
        "reporter": reporter,
        "victim": victim,
        "seeded": seeded,
        "model": models[0]["name"],
        "enrollment_id": enrollment_id,
        "throwaway": throwaway,
    }


def fill(path: str, method: str, f: dict[str, Any]) -> str:
    """The path with real ids in its parameters."""
    if "{" not in path:
        return path
    if path.startswith("/api/v1/agents/"):
        value = f["reporter"]
    elif path.startswith("/api/v1/node-tokens/") or (
        path == "/api/v1/nodes/{name}" and method == "delete"
    ):
        value = f["victim"]
    elif path.startswith("/api/v1/tasks/"):
        value = "roles-task"
    elif path.startswith("/api/v1/modelsets/"):
        value = "roles-set"
    elif path.startswith("/api/v1/nodes/{name}") or path.startswith("/api/v1/admin/nodes/"):
        value = f["seeded"][0]
    elif path.startswith("/api/v1/models/"):
        value = f["model"]
    elif path.startswith("/api/v1/enrollment-tokens/"):
        value = f["enrollment_id"]
    elif path.startswith("/api/v1/tokens/"):
        value = f["throwaway"]
    else:
        raise AssertionError(f"{method.upper()} {path}: no real id known for its parameter")
    head, _, rest = path.partition("{")
    return head + value + rest.partition("}")[2]


def expected(role: str, caller: str, anonymous_read: bool) -> str:
    """'allowed', or the status a refused caller gets."""
    if role == "public" or role == "enrollment":
        return "allowed"
    if role == "node":
        return "allowed" if caller == "node" else "refused"
    if caller == "node":
        return "403"
    if caller == "anonymous":
        return "allowed" if anonymous_read and role == "viewer" else "401"
    have = "admin" if caller == "admin-token" else caller
    return "allowed" if RANK[have] >= RANK[role] else "403"


async def call(client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str]) -> int:
    body = {} if method in ("post", "put") else None
    async with client.stream(method.upper(), url, headers=headers, json=body) as r:
        return r.status_code  # streams (the SSE one) are closed unread


@pytest.mark.parametrize("anonymous_read", [False, True], ids=["closed", "anonymous-read"])
async def test_every_operation_answers_as_its_declared_role(
    db_url: str, anonymous_read: bool
) -> None:
    settings = make_settings(
        db_url, auth={"anonymous_read": anonymous_read, "failed_per_ip_per_minute": 0}
    )
    async with served_api(settings) as api:
        await empty_tables(api.state.engine)
        f = await fixtures(api)
        document = api.app.openapi()
        undeclared = []
        checked = 0
        for path, operations in document["paths"].items():
            for method, op in operations.items():
                role = op.get("x-obt-role")
                if role not in ROLES:
                    undeclared.append(f"{method.upper()} {path}")
                    continue
                assert (
                    role in op["description"]
                    or role == "public"
                    or "Credential" in op["description"]
                ), f"{op['operationId']}: the role is not in its description"
                url = fill(path, method, f)
                for caller, headers in f["callers"].items():
                    status = await call(api.client, method, url, headers)
                    want = expected(role, caller, anonymous_read)
                    where = f"{method.upper()} {path} as {caller} (role {role}): {status}"
                    if want == "allowed":
                        assert status not in (401, 403), where
                    elif want == "refused":
                        assert status in (401, 403), where
                    else:
                        assert status == int(want), where
                    checked += 1
        assert not undeclared, f"operations without a declared role: {undeclared}"
        assert checked >= 6 * 25


async def test_refusals_name_the_role_and_ask_for_a_credential(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}", auth={"anonymous_read": False}
    )
    async with served_api(settings) as api:
        viewer = {"Authorization": f"Bearer {await api_token(api, 'viewer')}"}
        r = await api.client.get("/api/v1/nodes")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "viewer role" in r.json()["detail"]
        r = await api.client.post("/api/v1/tokens", json={"role": "viewer"}, headers=viewer)
        assert r.status_code == 403 and "needs the admin role" in r.json()["detail"]
        assert (await api.client.get("/api/v1/nodes", headers=viewer)).status_code == 200
        _, node = await enroll(api, "reader")
        r = await api.client.get("/api/v1/nodes", headers=node)
        assert r.status_code == 403 and "node token" in r.json()["detail"]
        # Probes and metrics stay open.
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await api.client.get(path)).status_code == 200, path


def test_openapi_names_security_schemes_and_roles() -> None:
    from obt.api.openapi import document

    doc = document()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["session"]["in"] == "cookie"
    op = doc["paths"]["/api/v1/tokens"]["post"]
    assert op["x-obt-role"] == "admin" and "Role: **admin**" in op["description"]
    assert {"bearer": []} in op["security"]
    assert doc["paths"]["/api/v1/nodes"]["get"]["x-obt-role"] == "viewer"
