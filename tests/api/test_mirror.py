"""Cluster mode against the Kubernetes API test server: the OllamaNode mirror (list + watch,
410 relist + sweep, restarts), leader election between replicas, and standalone hosts whose
reports become OllamaNodes and whose heartbeats renew Leases. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select

from obt.api.db.engine import make_engine, migrate
from obt.api.db.tables import Node, Tombstone
from obt.api.fake import fake_report, fake_status
from obt.api.settings import ApiSettings
from obt.core.kube import KubeClient, kubeconfig_config
from obt.core.leader import LeaderElector
from tests.api.conftest import ADMIN, Api, empty_tables, running_api
from tests.support.kube_api_server import KubeApiServer

NODE = ("obt.dev/v1alpha1", "OllamaNode")
LEASE = ("coordination.k8s.io/v1", "Lease")
NS = "obt"


@pytest.fixture
def kube(kube_api: KubeApiServer) -> KubeApiServer:
    """The test server with the API's namespace."""
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return kube_api


def cluster_settings(db_url: str, kube: KubeApiServer, identity: str, **extra: Any) -> ApiSettings:
    return ApiSettings(  # type: ignore[call-arg]
        _env_file=None,
        database={"url": db_url},
        api={
            "admin_token": ADMIN,
            "heartbeat_flush_seconds": 0.2,
            "rate_limit": {
                "per_token_per_minute": 0,
                "per_ip_per_minute": 0,
                "enroll_per_ip_per_minute": 0,
            },
            "cluster": {
                "enabled": True,
                "leader_lease_seconds": 2,
                "watch_timeout_seconds": 30,
                "lease_renew_min_seconds": 0.2,
                **extra,
            },
            "auth": {"anonymous_read": True},
        },
        kube={"kubeconfig": kube.kubeconfig, "namespace": NS, "identity": identity},
    )


async def empty_db(db_url: str) -> None:
    engine = make_engine(db_url)
    await migrate(engine)
    await empty_tables(engine)
    await engine.dispose()


@asynccontextmanager
async def cluster_api(db_url: str, kube: KubeApiServer, identity: str) -> AsyncIterator[Api]:
    async with running_api(cluster_settings(db_url, kube, identity)) as api:
        assert api.state.mirror is not None
        api.state.mirror.mirror.backoff.cap = 0.5  # the tests' faults last about a second
        yield api


def without_nulls(value: Any) -> Any:
    """What a JSON merge patch leaves: null members of objects removed (arrays replace whole)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


async def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def ready(api: Api, words: str) -> bool:
    r = await api.client.get("/readyz")
    return r.status_code == 200 and words in r.json()["status"]


def make_node(kube: KubeApiServer, i: int, variant: int = 0) -> dict[str, Any]:
    name = f"gpu-{i:04d}"
    kube.create(
        {
            "apiVersion": NODE[0],
            "kind": NODE[1],
            "metadata": {"name": name, "labels": {"zone": f"z{i % 3}"}},
            "spec": {"source": "daemonset", "nodeName": name},
        }
    )
    return set_status(kube, name, i, variant)


def set_status(kube: KubeApiServer, name: str, i: int, variant: int) -> dict[str, Any]:
    status = fake_status(
        i, models=5, variant=variant, phase="Ready" if variant % 2 == 0 else "NotReady"
    )
    return kube.patch(*NODE, name, {"status": status}, subresource="status")


def cluster_rvs(kube: KubeApiServer) -> dict[str, str]:
    return {
        o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in kube.list_objects(*NODE)
    }


async def db_rvs(api: Api) -> dict[str, str | None]:
    async with api.state.sessions() as session:
        return dict((await session.execute(select(Node.name, Node.resource_version))).all())


async def tombstones(api: Api) -> dict[str, str]:
    async with api.state.sessions() as session:
        return dict((await session.execute(select(Tombstone.name, Tombstone.reason))).all())


async def mirrored(api: Api, kube: KubeApiServer) -> bool:
    """The table equals the cluster: same names, each row at the object's resourceVersion."""
    return await db_rvs(api) == cluster_rvs(kube)


async def churn(kube: KubeApiServer, rounds: int, start: int, seed: int) -> None:
    """Creates, status updates and deletes, through the server's own store (not HTTP)."""
    rnd = random.Random(seed)
    for n in range(rounds):
        names = sorted(cluster_rvs(kube))
        action = rnd.random()
        if action < 0.4 or not names:
            await asyncio.to_thread(make_node, kube, start + n)
        elif action < 0.8:
            name = rnd.choice(names)
            await asyncio.to_thread(set_status, kube, name, int(name[4:]), n + 1)
        else:
            await asyncio.to_thread(kube.delete, *NODE, rnd.choice(names))
        await asyncio.sleep(0.005)


# -- the mirror -------------------------------------------------------------------------------


async def test_create_update_delete_flow_into_the_db(db_url: str, kube: KubeApiServer) -> None:
    await empty_db(db_url)
    for i in range(3):
        make_node(kube, i)
    async with cluster_api(db_url, kube, "replica-a") as api:
        await wait_for(lambda: ready(api, "synced"), what="leader synced")
        await wait_for(lambda: mirrored(api, kube), what="initial list mirrored")
        # Watch: a new node, a changed one (loaded models differ, phase flips), a deleted one.
        make_node(kube, 7)
        set_status(kube, "gpu-0001", 1, variant=1)
        kube.delete(*NODE, "gpu-0002")
        await wait_for(lambda: mirrored(api, kube), what="watch events mirrored")
        detail = (await api.client.get("/api/v1/nodes/gpu-0001")).json()
        assert detail["phase"] == "NotReady"
        assert detail["labels"] == {"zone": "z1"}
        removed = (await api.client.get("/api/v1/nodes/-/removed")).json()
        assert [(t["name"], t["reason"]) for t in removed] == [("gpu-0002", "Deleted")]
        listed = (await api.client.get("/api/v1/nodes", params={"source": "daemonset"})).json()
        assert listed["total"] == 3
        # Replaying (a dropped watch resumes; an expired one relists) writes nothing new.
        writes = api.state.store.writes
        relists = api.state.mirror.mirror.stats.relists  # type: ignore[union-attr]
        kube.faults.drop_watches()
        kube.faults.expire_history()
        await wait_for(
            lambda: api.state.mirror.mirror.stats.relists > relists,  # type: ignore[union-attr]
            what="relist after 410",
        )
        await wait_for(lambda: ready(api, "synced"))
        assert api.state.store.writes == writes
        # Bookmarks advance the resume resourceVersion past unrelated writes.
        kube.create(
            {"apiVersion": LEASE[0], "kind": LEASE[1], "metadata": {"name": "x", "namespace": NS}}
        )
        kube.bookmark_interval = 0.2
        lease_rv = int(kube.get(*LEASE, "x", NS)["metadata"]["resourceVersion"])  # type: ignore[index]
        await wait_for(
            lambda: int(api.state.mirror.mirror.resume_rv or 0) >= lease_rv,  # type: ignore[union-attr]
            what="bookmark",
        )
        assert api.state.mirror.mirror.stats.bookmarks > 0  # type: ignore[union-attr]


async def test_forced_410_relist_leaves_no_missing_and_no_ghost_rows(
    db_url: str, kube: KubeApiServer
) -> None:
    await empty_db(db_url)
    for i in range(20):
        make_node(kube, i)
    async with cluster_api(db_url, kube, "replica-a") as api:
        await wait_for(lambda: mirrored(api, kube), what="initial list")
        mirror = api.state.mirror.mirror  # type: ignore[union-attr]
        relists, before = mirror.stats.relists, set(cluster_rvs(kube))
        # Disconnect the mirror: every request fails while the cluster churns, then the history
        # it could resume from is compacted away.
        kube.faults.fail(500, seconds=1.5, when=lambda r: r.resource == "ollamanodes")
        kube.faults.drop_watches()
        await churn(kube, 40, start=100, seed=1)
        kube.faults.expire_history()
        await wait_for(lambda: mirror.stats.relists > relists, what="relist after 410")
        try:
            await wait_for(lambda: mirrored(api, kube), what="relist mirrored")
        except AssertionError:
            rows, cl = await db_rvs(api), cluster_rvs(kube)
            raise AssertionError(
                {
                    k: (rows.get(k), cl.get(k))
                    for k in set(rows) | set(cl)
                    if rows.get(k) != cl.get(k)
                },
                mirror.stats,
            ) from None
        rows, cluster = await db_rvs(api), cluster_rvs(kube)
        assert set(cluster) - set(rows) == set()  # 0 missing
        assert set(rows) - set(cluster) == set()  # 0 ghosts
        vanished = before - set(cluster)
        assert vanished, "the churn deleted some of the listed nodes"
        stones = await tombstones(api)
        assert all(stones.get(name) in ("Vanished", "Deleted") for name in vanished)
        assert mirror.stats.errors > 0  # it did see the outage and backed off


async def test_api_restart_mid_churn_loses_nothing(db_url: str, kube: KubeApiServer) -> None:
    await empty_db(db_url)
    for i in range(10):
        make_node(kube, i)
    busy = asyncio.create_task(churn(kube, 150, start=200, seed=2))
    async with cluster_api(db_url, kube, "replica-a") as api:
        await wait_for(lambda: ready(api, "synced"))
        await asyncio.sleep(0.3)
    assert not busy.done(), "the API stopped while the cluster was still changing"
    await asyncio.sleep(0.3)  # changes nobody watches
    async with cluster_api(db_url, kube, "replica-a2") as api:
        await busy
        await wait_for(lambda: mirrored(api, kube), what="everything after the restart")
        rows, cluster = await db_rvs(api), cluster_rvs(kube)
        assert rows == cluster and len(rows) > 10


# -- two replicas -----------------------------------------------------------------------------


async def test_two_replicas_never_double_write_and_the_follower_takes_over(
    db_url: str, kube: KubeApiServer
) -> None:
    await empty_db(db_url)
    for i in range(5):
        make_node(kube, i)
    async with AsyncExitStack() as stack_a:
        a = await stack_a.enter_async_context(cluster_api(db_url, kube, "replica-a"))
        await wait_for(lambda: ready(a, "leader, synced"), what="a leads")
        async with cluster_api(db_url, kube, "replica-b") as b:
            await wait_for(lambda: ready(b, "standby; leader replica-a"), what="b stands by")
            await churn(kube, 30, start=300, seed=3)
            await wait_for(lambda: mirrored(a, kube), what="a mirrors the churn")
            await asyncio.sleep(0.5)
            assert a.state.store.writes > 0
            assert b.state.store.writes == 0  # the follower wrote no row
            by_b = [r for r in kube.requests if "replica-b" in r.user_agent]
            assert by_b and all(r.resource == "leases" for r in by_b), "b never lists or watches"
            a_writes = a.state.store.writes
            await stack_a.aclose()  # a shuts down (and hands the Lease over)
            stopped = time.monotonic()
            await wait_for(lambda: ready(b, "leader, synced"), what="b takes over")
            took = time.monotonic() - stopped
            make_node(kube, 999)
            await wait_for(lambda: mirrored(b, kube), what="b mirrors after takeover")
            assert b.state.store.writes > 0
            assert a.state.store.writes == a_writes
            assert took < 5, f"takeover took {took:.1f}s"
            lease = kube.get(*LEASE, "obt-api-mirror", NS)
            assert lease is not None and lease["spec"]["holderIdentity"] == "replica-b"


async def test_lease_expiry_hands_over_and_a_stale_holder_loses(kube: KubeApiServer) -> None:
    """A holder that stops renewing (crash) loses the Lease after its duration; its late write
    with the old resourceVersion gets 409 and it is no longer leader."""
    config = kubeconfig_config(kube.kubeconfig)
    async with KubeClient(config, user_agent="a") as ca, KubeClient(config, user_agent="b") as cb:
        a = LeaderElector(ca, NS, "obt-api-mirror", "a", lease_duration=1.0)
        b = LeaderElector(cb, NS, "obt-api-mirror", "b", lease_duration=1.0)
        await a.try_once()
        await b.try_once()
        assert a.is_leader and not b.is_leader
        lease = kube.get(*LEASE, "obt-api-mirror", NS)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "a"
        assert lease["spec"]["leaseDurationSeconds"] == 1
        assert lease["spec"]["renewTime"]
        stale = dict(lease)
        started = time.monotonic()
        while not b.is_leader:  # a is silent from here on
            await b.try_once()
            await asyncio.sleep(0.1)
        assert time.monotonic() - started >= 1.0
        assert kube.get(*LEASE, "obt-api-mirror", NS)["spec"]["leaseTransitions"] == 1  # type: ignore[index]
        await a._write("PUT", a.path, a._body(stale, 0))  # the old resourceVersion: 409
        assert not a.is_leader  # the 409 told a it lost
        await b.try_once()  # b renews on its own resourceVersion
        assert b.is_leader
        lease = kube.get(*LEASE, "obt-api-mirror", NS)
        assert lease is not None and lease["spec"]["holderIdentity"] == "b"


# -- standalone hosts in cluster mode -----------------------------------------------------------


async def test_standalone_host_becomes_an_ollamanode_and_heartbeats_renew_its_lease(
    db_url: str, kube: KubeApiServer
) -> None:
    await empty_db(db_url)
    make_node(kube, 1)
    async with cluster_api(db_url, kube, "replica-a") as api:
        await wait_for(lambda: ready(api, "synced"))
        r = await api.client.post("/api/v1/enrollment-tokens", json={}, headers=api.admin)
        token = r.json()["token"]
        # A daemonset node's name cannot be taken by a host (checked on the object itself).
        r = await api.client.post(
            "/api/v1/agents/enroll", json={"enrollmentToken": token, "hostId": "GPU 0001"}
        )
        assert r.status_code == 409 and r.json()["detail"].startswith("hostId:"), r.text
        r = await api.client.post(
            "/api/v1/agents/enroll",
            json={"enrollmentToken": token, "hostId": "Mac Studio", "labels": {"room": "lab"}},
        )
        assert r.status_code == 201, r.text
        name, auth = r.json()["nodeName"], {"Authorization": f"Bearer {r.json()['token']}"}
        obj = kube.get(*NODE, name)
        assert obj is not None
        assert obj["spec"]["source"] == "standalone" and obj["spec"]["hostId"] == "Mac Studio"
        assert obj["metadata"]["labels"] == {"room": "lab", "obt.dev/source": "standalone"}

        report = fake_report(4)
        r = await api.client.put(
            f"/api/v1/agents/{name}/report", json=report.to_wire(), headers=auth
        )
        assert r.status_code == 200, r.text
        obj = kube.get(*NODE, name)
        sent = report.status_patch()["status"]["hardware"]  # type: ignore[index]
        assert obj is not None and obj["status"]["hardware"] == without_nulls(sent)
        await wait_for(lambda: mirrored(api, kube), what="the host's node mirrored")
        row = (await api.client.get(f"/api/v1/nodes/{name}")).json()
        assert row["source"] == "standalone" and row["modelCount"] == len(report.ollama.models)
        # The same report again: no write to the object.
        writes = len(kube.writes(user_agent_contains="replica-a", resource="ollamanodes"))
        r = await api.client.put(
            f"/api/v1/agents/{name}/report", json=report.to_wire(), headers=auth
        )
        assert r.status_code == 200
        assert len(kube.writes(user_agent_contains="replica-a", resource="ollamanodes")) == writes

        # Heartbeats renew obt-node-<name> (label obt.dev/standalone-host), off the request path.
        digest = report.digest()

        def lease() -> dict[str, Any] | None:
            return kube.get(*LEASE, f"obt-node-{name}", NS)

        first = await wait_for(lease, what="the host's Lease")
        assert first["metadata"]["labels"] == {"obt.dev/standalone-host": name}
        await asyncio.sleep(0.25)
        kube.faults.pause()  # the API server hangs: heartbeats must still answer at once
        try:
            started = time.monotonic()
            r = await api.client.post(
                f"/api/v1/agents/{name}/heartbeat", json={"digest": digest}, headers=auth
            )
            assert r.status_code == 200 and r.json()["reportNeeded"] is False
            # Answered from memory: a heartbeat that waited on the hung server would take the
            # client's 10 s request timeout (the bound leaves room for a busy CI machine).
            assert time.monotonic() - started < 2.0
        finally:
            kube.faults.resume()
        await wait_for(
            lambda: lease()["spec"]["renewTime"] != first["spec"]["renewTime"],  # type: ignore[index]
            what="renewTime changed",
        )
        # Heartbeats faster than lease_renew_min_seconds coalesce into one renewal.
        renewals = api.state.cluster.lease_writes
        for _ in range(5):
            await api.client.post(
                f"/api/v1/agents/{name}/heartbeat", json={"digest": digest}, headers=auth
            )
        await asyncio.sleep(0.6)
        assert api.state.cluster.lease_writes - renewals <= 2


pytestmark = pytest.mark.timeout(60)


async def test_a_lapsed_leadership_stops_the_mirror_and_renewal_restarts_it(
    kube: KubeApiServer, tmp_path: Any
) -> None:
    """A stalled leader whose renew deadline passed stops writing; when it renews again (nobody
    took over) it lists again and keeps mirroring."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}"
    make_node(kube, 1)
    async with cluster_api(db_url, kube, "replica-a") as api:
        runtime = api.state.mirror
        assert runtime is not None
        await wait_for(lambda: ready(api, "leader, synced"))
        relists = runtime.mirror.stats.relists
        runtime.elector._renewed_at = time.monotonic() - 60  # as if the loop had stalled
        assert not runtime.elector.is_leader
        await wait_for(lambda: runtime.mirror.stats.relists > relists, what="a new term lists")
        make_node(kube, 2)
        await wait_for(lambda: mirrored(api, kube), what="mirroring again")
        assert await ready(api, "leader, synced")
