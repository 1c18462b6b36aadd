"""A removed standalone host comes back by itself: its next heartbeat is asked for the full report
(local mode and cluster mode, one replica or several), its Lease goes with its OllamaNode, the
tombstone keeps what it last said, and local mode's liveness follows OBT_API__LIVENESS__*."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from obt.api.cluster.mirror import deletion_reason
from obt.api.db.tables import NodeCredential
from obt.api.fake import fake_report
from obt.api.settings import ApiSettings
from obt.core.liveness import LivenessConfig
from tests.api.conftest import Api, empty_tables, make_settings, running_api
from tests.api.test_agents import enroll, put_report
from tests.api.test_mirror import LEASE, NODE, NS, cluster_api, empty_db, ready, wait_for
from tests.support.kube_api_server import KubeApiServer

# NotReady after 0.3 s of silence, removed after 0.6 s, no startup grace to speak of.
FAST = LivenessConfig().scaled(0.01)


@pytest.fixture
def kube(kube_api: KubeApiServer) -> KubeApiServer:
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return kube_api


async def heartbeat(api: Api, name: str, auth: dict[str, str], digest: str) -> bool:
    r = await api.client.post(
        f"/api/v1/agents/{name}/heartbeat", json={"digest": digest}, headers=auth
    )
    assert r.status_code == 200, r.text
    needed: bool = r.json()["reportNeeded"]
    return needed


async def stored_digest(api: Api, name: str) -> str | None:
    async with api.state.sessions() as session:
        digest: str | None = (
            await session.execute(
                select(NodeCredential.last_digest).where(NodeCredential.node_name == name)
            )
        ).scalar_one()
    return digest


async def test_local_removal_asks_the_next_heartbeat_for_a_report(db_url: str) -> None:
    settings = make_settings(db_url, liveness=FAST.model_dump())
    async with running_api(settings) as api:
        await empty_tables(api.state.engine)
        name, auth = await enroll(api, "Gaming PC")
        report = fake_report(3, models=4)
        await put_report(api, name, auth, report)
        digest = report.digest()
        assert await heartbeat(api, name, auth, digest) is False
        await api.state.ingest.flush()
        ingest = api.state.ingest
        seen = ingest.by_name[name].last_seen
        assert seen is not None

        # Asleep past the removal timeout: removed, with a tombstone that keeps what it said.
        await ingest.judge_once(seen + timedelta(seconds=0.7))
        assert (await api.client.get(f"/api/v1/nodes/{name}")).status_code == 404
        removed = (await api.client.get("/api/v1/nodes/-/removed")).json()
        assert [r["name"] for r in removed] == [name]
        tomb = removed[0]
        assert tomb["reason"] == "AgentGone" and tomb["source"] == "standalone"
        assert tomb["lastPhase"] == "NotReady"
        assert tomb["lastSeenAt"] is not None and tomb["lastSeenAt"] < tomb["removedAt"]
        assert tomb["models"] == sorted(m.name for m in report.ollama.models)
        assert tomb["cpu"] and tomb["ramTotalBytes"] == report.hardware.memory.total_bytes
        assert tomb["gpuCount"] == len(report.hardware.gpus)
        assert tomb["ollamaVersion"] == report.ollama.version
        assert await stored_digest(api, name) is None

        # Awake again, the agent not restarted: the same digest is now asked for in full ...
        assert await heartbeat(api, name, auth, digest) is True
        await put_report(api, name, auth, report)
        node = (await api.client.get(f"/api/v1/nodes/{name}")).json()
        assert node["phase"] == "Ready" and node["modelCount"] == 4
        assert await stored_digest(api, name) == digest
        # ... it is no longer listed as removed, and the heartbeats are quiet again.
        assert (await api.client.get("/api/v1/nodes/-/removed")).json() == []
        assert await heartbeat(api, name, auth, digest) is False


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_every_replica_asks_after_a_removal(db_url: str) -> None:
    """Two replicas on one PostgreSQL: the node is removed by one, the host's heartbeat reaches
    the other (which holds the digest in memory): it asks too (NOTIFY); and a replica started
    after the removal reads no digest. A lost LISTEN (resync) re-reads the digests."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(running_api(make_settings(db_url)))
        await empty_tables(a.state.engine)
        name, auth = await enroll(a, "laptop")
        report = fake_report(1, models=2)
        await put_report(a, name, auth, report)
        b = await stack.enter_async_context(running_api(make_settings(db_url)))
        assert await heartbeat(b, name, auth, report.digest()) is False

        assert await a.state.store.remove(name, "AgentGone")
        await wait_for(
            lambda: b.state.ingest.by_name[name].digest is None, what="b forgets the digest"
        )
        assert await heartbeat(b, name, auth, report.digest()) is True
        async with running_api(make_settings(db_url)) as c:
            assert await heartbeat(c, name, auth, report.digest()) is True

        # Events missed while LISTEN was down: the bus says resync, digests are re-read.
        a.state.ingest.by_name[name].digest = report.digest()  # a removal a never heard of
        async with a.state.sessions() as session, session.begin():
            await session.execute(
                NodeCredential.__table__.update()
                .where(NodeCredential.node_name == name)
                .values(last_digest=None)
            )
        a.state.bus.deliver({"type": "resync"})
        await wait_for(lambda: a.state.ingest.by_name[name].digest is None, what="resync")


async def test_cluster_removal_deletes_the_lease_and_the_host_comes_back(
    db_url: str, kube: KubeApiServer
) -> None:
    """The operator deletes a silent host's OllamaNode: the mirror tombstones it (AgentGone),
    deletes its Lease; the next heartbeat asks for the report, which re-creates the object."""
    await empty_db(db_url)
    async with cluster_api(db_url, kube, "replica-a") as api:
        await wait_for(lambda: ready(api, "synced"))
        name, auth = await enroll(api, "Gaming PC")
        report = fake_report(2, models=3)
        await put_report(api, name, auth, report)
        digest = report.digest()
        assert await heartbeat(api, name, auth, digest) is False
        lease = await wait_for(lambda: kube.get(*LEASE, f"obt-node-{name}", NS), what="Lease")
        assert lease is not None
        await wait_for(lambda: _status(api, name, 200), what="the host's row mirrored")

        # The operator's part: NotReady (LeaseExpired), then the removal.
        kube.patch(
            *NODE,
            name,
            {
                "status": {
                    "phase": "NotReady",
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "False",
                            "reason": "LeaseExpired",
                            "message": "No heartbeat observed for 30s or more.",
                            "lastTransitionTime": "2026-12-03T17:00:00Z",
                        }
                    ],
                }
            },
            subresource="status",
        )
        await wait_for(lambda: _phase(api, name, "NotReady"), what="NotReady mirrored")
        kube.delete(*NODE, name)
        await wait_for(lambda: _status(api, name, 404), what="row removed")
        removed = (await api.client.get("/api/v1/nodes/-/removed")).json()
        assert removed[0]["name"] == name and removed[0]["reason"] == "AgentGone"
        assert removed[0]["models"] == sorted(m.name for m in report.ollama.models)
        await wait_for(
            lambda: kube.get(*LEASE, f"obt-node-{name}", NS) is None, what="Lease deleted"
        )

        # Back: asked for the report, which re-creates the OllamaNode; listed again.
        assert await heartbeat(api, name, auth, digest) is True
        await put_report(api, name, auth, report)
        obj = kube.get(*NODE, name)
        assert obj is not None and obj["spec"]["source"] == "standalone"
        await wait_for(lambda: _models(api, name, 3), what="listed again with its models")
        await wait_for(lambda: kube.get(*LEASE, f"obt-node-{name}", NS), what="a fresh Lease")
        assert await heartbeat(api, name, auth, digest) is False


async def test_delete_lease_of_a_missing_lease_is_done(db_url: str, kube: KubeApiServer) -> None:
    await empty_db(db_url)
    async with cluster_api(db_url, kube, "replica-a") as api:
        assert api.state.cluster is not None
        await api.state.cluster.delete_lease("never-was")  # 404: already gone, no error


def test_deletion_reason_reads_the_last_ready_condition() -> None:
    def obj(status: str, reason: str) -> dict[str, Any]:
        return {"status": {"conditions": [{"type": "Ready", "status": status, "reason": reason}]}}

    assert deletion_reason(obj("False", "LeaseExpired")) == "AgentGone"
    assert deletion_reason(obj("False", "AgentPodMissing")) == "AgentGone"
    assert deletion_reason(obj("False", "NodeNotReady")) == "Deleted"  # kubectl delete
    assert deletion_reason(obj("True", "HeartbeatRenewed")) == "Deleted"
    assert deletion_reason({}) == "Deleted"


async def _status(api: Api, name: str, code: int) -> bool:
    return (await api.client.get(f"/api/v1/nodes/{name}")).status_code == code


async def _models(api: Api, name: str, count: int) -> bool:
    r = await api.client.get(f"/api/v1/nodes/{name}")
    return r.status_code == 200 and r.json()["modelCount"] == count


async def _phase(api: Api, name: str, phase: str) -> bool:
    r = await api.client.get(f"/api/v1/nodes/{name}")
    return r.status_code == 200 and r.json()["phase"] == phase


# -- local mode's liveness settings, from the environment ------------------------------------


def env_settings(monkeypatch: pytest.MonkeyPatch, db_url: str, **env: str) -> ApiSettings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("OBT_DATABASE__URL", db_url)
    monkeypatch.setenv("OBT_API__ADMIN_TOKEN", "test-admin-token-0123456789")
    monkeypatch.setenv("OBT_API__AUTH__ANONYMOUS_READ", "true")  # the test reads anonymously
    return ApiSettings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("env", "after", "expected"),
    [
        # Defaults (30 s NotReady, 60 s removal): 5 s of silence is nothing.
        ({}, 5.0, "Ready"),
        # Shortened through the environment: the same 5 s is a removal ...
        (
            {
                "OBT_API__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": "1",
                "OBT_API__LIVENESS__REMOVE_AFTER_SECONDS": "2",
                "OBT_API__LIVENESS__STARTUP_GRACE_SECONDS": "0",
            },
            5.0,
            "removed",
        ),
        # ... or only NotReady when the removal timeout is longer ...
        (
            {
                "OBT_API__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": "1",
                "OBT_API__LIVENESS__REMOVE_AFTER_SECONDS": "600",
                "OBT_API__LIVENESS__STARTUP_GRACE_SECONDS": "0",
            },
            5.0,
            "NotReady",
        ),
        # ... and no removal at all during the startup grace.
        (
            {
                "OBT_API__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": "1",
                "OBT_API__LIVENESS__REMOVE_AFTER_SECONDS": "2",
                "OBT_API__LIVENESS__STARTUP_GRACE_SECONDS": "3600",
            },
            5.0,
            "NotReady",
        ),
        # The mass-silence guard counting from one node: 1 silent of 1 is a fault, not a loss.
        (
            {
                "OBT_API__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": "1",
                "OBT_API__LIVENESS__REMOVE_AFTER_SECONDS": "2",
                "OBT_API__LIVENESS__STARTUP_GRACE_SECONDS": "0",
                "OBT_API__LIVENESS__MASS_SILENCE_MIN_NODES": "1",
                "OBT_API__LIVENESS__MASS_SILENCE_RATIO": "0.5",
            },
            5.0,
            "NotReady",
        ),
    ],
    ids=["defaults", "removal", "not-ready-only", "startup-grace", "mass-silence"],
)
async def test_local_liveness_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, db_url: str, env: dict[str, str], after: float, expected: str
) -> None:
    settings = env_settings(monkeypatch, db_url, **env)
    async with running_api(settings) as api:
        name, auth = await enroll(api, "desk")
        await put_report(api, name, auth, fake_report(0, models=1))
        seen = api.state.ingest.by_name[name].last_seen
        assert seen is not None
        await api.state.ingest.judge_once(seen + timedelta(seconds=after))
        r = await api.client.get(f"/api/v1/nodes/{name}")
        got = "removed" if r.status_code == 404 else r.json()["phase"]
        assert got == expected


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sweep_interval_and_the_deprecated_name(
    monkeypatch: pytest.MonkeyPatch, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The sweep runs by itself every OBT_API__LIVENESS__SWEEP_INTERVAL_SECONDS; the old
    OBT_API__LIVENESS_INTERVAL_S still sets it, with a warning naming the new variable."""
    with caplog.at_level(logging.WARNING, logger="obt.settings"):
        old = env_settings(monkeypatch, db_url, OBT_API__LIVENESS_INTERVAL_S="7")
    assert old.api.liveness.sweep_interval_seconds == 7
    assert "OBT_API__LIVENESS__SWEEP_INTERVAL_SECONDS" in caplog.text
    monkeypatch.delenv("OBT_API__LIVENESS_INTERVAL_S")

    settings = env_settings(
        monkeypatch,
        db_url,
        OBT_API__LIVENESS__SWEEP_INTERVAL_SECONDS="0.1",
        OBT_API__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS="0.3",
        OBT_API__LIVENESS__REMOVE_AFTER_SECONDS="600",
        OBT_API__LIVENESS__STARTUP_GRACE_SECONDS="0",
    )
    async with running_api(settings) as api:
        name, auth = await enroll(api, "desk")
        await put_report(api, name, auth, fake_report(0, models=1))
        # Nobody calls judge_once here: the background sweep must mark the silent host.
        await wait_for(lambda: _phase(api, name, "NotReady"), timeout=30, what="swept")
    slow = env_settings(
        monkeypatch,
        db_url,
        OBT_API__LIVENESS__SWEEP_INTERVAL_SECONDS="3600",
    )
    async with running_api(slow) as api:
        name, auth = await enroll(api, "desk2")
        await put_report(api, name, auth, fake_report(0, models=1))
        await asyncio.sleep(1.0)  # 3 NotReady windows pass, but no sweep runs in an hour
        assert (await api.client.get(f"/api/v1/nodes/{name}")).json()["phase"] == "Ready"
