"""Leaving cleanly: node tokens listed and revoked, `obt node rm` decommissioning a standalone host
in local and cluster mode (Kubernetes API test server), DaemonSet nodes refused, and enrollment
that does not take over another machine's name without `replace`.

The CLI runs through click's CliRunner in a worker thread against the app behind a real uvicorn
socket (the command speaks HTTP with urllib, as a person's shell would)."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from obt.api.fake import fake_report
from obt.cli.main import main
from obt.core.report import AgentReport
from tests.api.conftest import ADMIN, Api, make_settings, served_api
from tests.api.test_agents import enroll, new_token, put_report
from tests.api.test_mirror import (
    LEASE,
    NODE,
    NS,
    cluster_settings,
    empty_db,
    make_node,
    tombstones,
    wait_for,
)
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.timeout(120)


def machine_report(i: int, machine_id: str) -> AgentReport:
    report = fake_report(i)
    report.hardware.os.machine_id = machine_id
    return report


async def obt(api: Api, *args: str) -> Result:
    """`obt ARGS --server <the app> --admin-token <its admin token>` in a worker thread."""
    server = str(api.client.base_url)
    argv = [*args, "--server", server, "--admin-token", ADMIN]
    return await asyncio.to_thread(CliRunner().invoke, main, argv)


async def removed(api: Api) -> dict[str, str]:
    rows = (await api.client.get("/api/v1/nodes/-/removed")).json()
    return {r["name"]: r["reason"] for r in rows}


# -- the endpoints ---------------------------------------------------------------------------


async def test_node_tokens_are_listed_without_secrets_and_revoked_at_once(api: Api) -> None:
    name, auth = await enroll(api, "Gaming PC")
    other, _ = await enroll(api, "laptop")
    report = fake_report(1)
    await put_report(api, name, auth, report)
    r = await api.client.get("/api/v1/node-tokens", headers=api.admin)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [t["nodeName"] for t in rows] == [name, other]
    assert rows[0]["hostId"] == "Gaming PC" and rows[0]["lastHeartbeatAt"] is not None
    assert rows[1]["lastHeartbeatAt"] is None  # enrolled, never heard from
    assert auth["Authorization"].split()[1] not in r.text and "token" not in rows[0]
    assert (await api.client.get("/api/v1/node-tokens")).status_code == 401

    r = await api.client.delete(f"/api/v1/node-tokens/{name}", headers=api.admin)
    assert r.status_code == 204, r.text
    # 401 at once, on the heartbeat fast path and on the FastAPI routes alike.
    hb = f"/api/v1/agents/{name}/heartbeat"
    r = await api.client.post(hb, json={"digest": report.digest()}, headers=auth)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    full_stack = httpx.ASGITransport(app=api.app.full_stack)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=full_stack, base_url="http://obt.test") as routed:
        r = await routed.post(hb, json={"digest": report.digest()}, headers=auth)
        assert r.status_code == 401
    r = await api.client.put(f"/api/v1/agents/{name}/report", json=report.to_wire(), headers=auth)
    assert r.status_code == 401
    # Revoking alone leaves the node listed (liveness removes it later; `rm` does both).
    assert (await api.client.get(f"/api/v1/nodes/{name}")).status_code == 200
    listed = (await api.client.get("/api/v1/node-tokens", headers=api.admin)).json()
    assert [t["nodeName"] for t in listed] == [other]
    r = await api.client.delete(f"/api/v1/node-tokens/{name}", headers=api.admin)
    assert r.status_code == 404 and r.json()["detail"].startswith("name:")


async def test_a_token_revoked_through_another_replica_stops_at_the_next_flush(api: Api) -> None:
    name, auth = await enroll(api, "h")
    hb = f"/api/v1/agents/{name}/heartbeat"
    assert (await api.client.post(hb, json={"digest": "0" * 64}, headers=auth)).status_code == 200
    async with api.state.sessions() as session, session.begin():
        from obt.api.db.tables import NodeCredential

        await session.delete(await session.get(NodeCredential, name))  # as another replica does
    assert (await api.client.post(hb, json={"digest": "0" * 64}, headers=auth)).status_code == 200
    await api.state.ingest.flush()
    assert (await api.client.post(hb, json={"digest": "0" * 64}, headers=auth)).status_code == 401


async def test_decommission_local_mode_leaves_a_tombstone(api: Api) -> None:
    name, auth = await enroll(api, "gaming-pc")
    await put_report(api, name, auth, fake_report(2))
    await api.client.post(
        "/api/v1/admin/seed", json={"count": 1, "prefix": "ds"}, headers=api.admin
    )
    r = await api.client.delete("/api/v1/nodes/ds-00000", headers=api.admin)
    assert r.status_code == 409, r.text
    assert "kubectl delete node ds-00000" in r.json()["detail"]
    assert (await api.client.get("/api/v1/nodes/ds-00000")).status_code == 200
    own = api.state.ingest.embedded("server-box", "server-box")  # `obt serve`'s own agent
    await api.state.ingest.report(own, fake_report(3))
    r = await api.client.delete("/api/v1/nodes/server-box", headers=api.admin)
    assert r.status_code == 409 and "obt serve --no-agent" in r.json()["detail"]
    r = await api.client.delete("/api/v1/nodes/nobody", headers=api.admin)
    assert r.status_code == 404 and r.json()["detail"] == "name: no node 'nobody' (see `obt nodes`)"
    assert (await api.client.delete(f"/api/v1/nodes/{name}")).status_code == 401

    r = await api.client.delete(f"/api/v1/nodes/{name}", headers=api.admin)
    assert r.status_code == 204, r.text
    assert (await api.client.get(f"/api/v1/nodes/{name}")).status_code == 404
    assert (await removed(api))[name] == "Decommissioned"
    r = await api.client.post(
        f"/api/v1/agents/{name}/heartbeat", json={"digest": "0" * 64}, headers=auth
    )
    assert r.status_code == 401
    # A decommissioned host's name is free for a new enrollment.
    again, _ = await enroll(api, "gaming-pc")
    assert again == name


async def test_enrollment_does_not_take_over_another_machine_without_replace(api: Api) -> None:
    token = await new_token(api)
    name, first = await enroll(api, "workstation", token)
    await put_report(api, name, first, machine_report(1, "aaaa"))
    body: dict[str, Any] = {"enrollmentToken": token, "hostId": "workstation"}

    r = await api.client.post("/api/v1/agents/enroll", json={**body, "machineId": "bbbb"})
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("hostId:") and "--replace" in r.json()["detail"]
    hb = f"/api/v1/agents/{name}/heartbeat"
    assert (await api.client.post(hb, json={"digest": "0" * 64}, headers=first)).status_code == 200

    # The same machine enrolling again (a reinstall keeping /etc/machine-id) is fine.
    r = await api.client.post("/api/v1/agents/enroll", json={**body, "machineId": "aaaa"})
    assert r.status_code == 201, r.text
    first = {"Authorization": f"Bearer {r.json()['token']}"}
    # Another machine with --replace takes it over; the first machine's token stops.
    r = await api.client.post(
        "/api/v1/agents/enroll", json={**body, "machineId": "bbbb", "replace": True}
    )
    assert r.status_code == 201, r.text
    assert (await api.client.post(hb, json={"digest": "0" * 64}, headers=first)).status_code == 401
    # A removed node's name may be taken without --replace.
    second = {"Authorization": f"Bearer {r.json()['token']}"}
    await put_report(api, name, second, machine_report(2, "bbbb"))
    assert await api.state.store.remove(name, "AgentGone")
    r = await api.client.post("/api/v1/agents/enroll", json={**body, "machineId": "cccc"})
    assert r.status_code == 201, r.text


# -- the CLI against a live server -----------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_obt_node_commands_local_mode(db_url: str) -> None:
    async with served_api(make_settings(db_url)) as api:
        name, auth = await enroll(api, "gaming-pc")
        await put_report(api, name, auth, fake_report(3))
        await api.client.post(
            "/api/v1/admin/seed", json={"count": 1, "prefix": "ds"}, headers=api.admin
        )

        listed = await obt(api, "node", "token", "list")
        assert listed.exit_code == 0, listed.output
        header, row = listed.output.splitlines()
        assert header.split() == ["NAME", "HOST", "ID", "CREATED", "LAST", "HEARTBEAT"]
        assert row.split()[:2] == ["gaming-pc", "gaming-pc"] and "obtn_" not in listed.output

        refused = await obt(api, "node", "rm", "ds-00000")
        assert refused.exit_code == 1
        assert "HTTP 409" in refused.output and "delete the Kubernetes Node" in refused.output
        unknown = await obt(api, "node", "rm", "nobody")
        assert unknown.exit_code == 3, unknown.output  # not found: the CLI's documented exit code
        assert "HTTP 404" in unknown.output

        done = await obt(api, "node", "rm", name)
        assert done.exit_code == 0 and done.output.strip() == f"decommissioned {name}"
        assert (await removed(api))[name] == "Decommissioned"
        r = await api.client.post(
            f"/api/v1/agents/{name}/heartbeat", json={"digest": "0" * 64}, headers=auth
        )
        assert r.status_code == 401
        empty = await obt(api, "node", "token", "list")
        assert empty.output.strip() == "no node tokens"

        other, other_auth = await enroll(api, "laptop")
        revoked = await obt(api, "node", "token", "revoke", other)
        assert revoked.exit_code == 0 and revoked.output.strip() == (
            f"revoked the node token of {other}"
        )
        r = await api.client.put(
            f"/api/v1/agents/{other}/report", json=fake_report(4).to_wire(), headers=other_auth
        )
        assert r.status_code == 401
        again = await obt(api, "node", "token", "revoke", other)
        assert again.exit_code == 3 and "has no node token" in again.output  # 404: not found


# -- cluster mode ----------------------------------------------------------------------------


@pytest.fixture
def kube(kube_api: KubeApiServer) -> KubeApiServer:
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return kube_api


async def test_obt_node_rm_cluster_mode(db_url: str, kube: KubeApiServer) -> None:
    """The OllamaNode and its Lease are deleted; the mirror's tombstone says Decommissioned."""
    await empty_db(db_url)
    make_node(kube, 1)  # a DaemonSet node: gpu-0001
    async with served_api(cluster_settings(db_url, kube, "replica-a")) as api:
        await wait_for(lambda: _synced(api), what="the mirror's first list")
        token = await new_token(api)
        name, auth = await enroll(api, "Mac Studio", token)
        report = fake_report(5)
        await put_report(api, name, auth, report)
        r = await api.client.post(
            f"/api/v1/agents/{name}/heartbeat", json={"digest": report.digest()}, headers=auth
        )
        assert r.status_code == 200
        await wait_for(lambda: kube.get(*LEASE, f"obt-node-{name}", NS), what="the Lease")
        await wait_for(lambda: _listed(api, name), what="the host mirrored")

        refused = await obt(api, "node", "rm", "gpu-0001")
        assert refused.exit_code == 1 and "HTTP 409" in refused.output
        assert "kubectl drain gpu-0001" in refused.output
        assert kube.get(*NODE, "gpu-0001") is not None

        done = await obt(api, "node", "rm", name)
        assert done.exit_code == 0, done.output
        assert kube.get(*NODE, name) is None
        assert kube.get(*LEASE, f"obt-node-{name}", NS) is None
        await wait_for(
            lambda: _tombstone_is(api, name, "Decommissioned"), what="the mirror's tombstone"
        )
        # The host's agent is refused; its late heartbeats do not bring the Lease back.
        for _ in range(3):
            r = await api.client.post(
                f"/api/v1/agents/{name}/heartbeat", json={"digest": report.digest()}, headers=auth
            )
            assert r.status_code == 401
        await asyncio.sleep(0.5)  # more than the renewal loop's tick
        assert kube.get(*LEASE, f"obt-node-{name}", NS) is None
        unknown = await obt(api, "node", "rm", name)
        assert unknown.exit_code == 3, unknown.output  # not found: the CLI's documented exit code
        assert "HTTP 404" in unknown.output

        # Enrolled again (a new token): the host is back, its Lease renewed again.
        name, auth = await enroll(api, "Mac Studio", await new_token(api))
        await put_report(api, name, auth, report)
        assert kube.get(*NODE, name) is not None
        await wait_for(lambda: kube.get(*LEASE, f"obt-node-{name}", NS), what="a new Lease")


async def _synced(api: Api) -> bool:
    r = await api.client.get("/readyz")
    return r.status_code == 200 and "synced" in r.json()["status"]


async def _listed(api: Api, name: str) -> bool:
    return (await api.client.get(f"/api/v1/nodes/{name}")).status_code == 200


async def _tombstone_is(api: Api, name: str, reason: str) -> bool:
    return (await tombstones(api)).get(name) == reason and not await _listed(api, name)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_obt_agent_replace_flag_takes_a_listed_name_over(db_url: str, tmp_path: Any) -> None:
    """The real `obt agent --once` command line: refused (409, said once) without --replace,
    enrolled and reported with it."""
    from tests.agent.recorded import FIXTURES

    root = tmp_path / "root"  # a recorded host whose /etc/machine-id differs from the holder's
    shutil.copytree(FIXTURES / "aws-c7g-graviton3", root)
    (root / "etc" / "machine-id").write_text("bbbb\n")
    async with served_api(make_settings(db_url)) as api:
        name, auth = await enroll(api, "desk")
        await put_report(api, name, auth, machine_report(1, "aaaa"))
        token = await new_token(api)
        argv = [
            "agent",
            "--once",
            "--server",
            str(api.client.base_url),
            "--enroll-token",
            token,
            "--host-id",
            "desk",
            "--host-root",
            str(root),
            "--data-dir",
            str(tmp_path / "state"),
            "--listen",
            "off",
            "--ollama-url",
            "http://127.0.0.1:9",
        ]
        refused = await asyncio.to_thread(CliRunner().invoke, main, argv)
        assert refused.exit_code == 1, refused.output
        assert "HTTP 409" in refused.output and "--replace" in refused.output
        node = (await api.client.get(f"/api/v1/nodes/{name}")).json()
        assert node["hardware"]["os"]["machineId"] == "aaaa"

        taken = await asyncio.to_thread(CliRunner().invoke, main, [*argv, "--replace"])
        assert taken.exit_code == 0, taken.output
        node = (await api.client.get(f"/api/v1/nodes/{name}")).json()
        assert node["hardware"]["os"]["machineId"] == "bbbb"
        r = await api.client.post(
            f"/api/v1/agents/{name}/heartbeat", json={"digest": "0" * 64}, headers=auth
        )
        assert r.status_code == 401  # the machine it replaced is refused from now on
