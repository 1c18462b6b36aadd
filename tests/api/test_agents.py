"""Standalone agents: enrollment, reports, heartbeats, their errors, local-mode liveness."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from obt.api.db.tables import EnrollmentToken, Node
from obt.api.fake import fake_report
from obt.api.nodes.store import utcnow
from obt.core.liveness import LivenessConfig
from obt.core.report import AgentReport
from tests.api.conftest import Api, make_settings, running_api


async def new_token(api: Api, **body: object) -> str:
    r = await api.client.post("/api/v1/enrollment-tokens", json=body, headers=api.admin)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert r.json()["tokenId"] == token.split(".")[0]
    return token


async def enroll(api: Api, host_id: str, token: str | None = None) -> tuple[str, dict[str, str]]:
    token = token or await new_token(api)
    r = await api.client.post(
        "/api/v1/agents/enroll",
        json={"enrollmentToken": token, "hostId": host_id, "labels": {"room": "office"}},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return body["nodeName"], {"Authorization": f"Bearer {body['token']}"}


async def put_report(api: Api, name: str, auth: dict[str, str], report: AgentReport) -> None:
    r = await api.client.put(
        f"/api/v1/agents/{name}/report",
        content=report.model_dump_json(by_alias=True),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": True, "digest": report.digest()}


async def test_enroll_report_appears_in_nodes(api: Api) -> None:
    name, auth = await enroll(api, "Mac Studio (Office)")
    assert name == "mac-studio-office"
    report = fake_report(3)
    await put_report(api, name, auth, report)
    nodes = (await api.client.get("/api/v1/nodes", params={"source": "standalone"})).json()
    assert [n["name"] for n in nodes["items"]] == [name]
    assert nodes["items"][0]["phase"] == "Ready" and nodes["items"][0]["labels"] == {
        "room": "office"
    }
    node = (await api.client.get(f"/api/v1/nodes/{name}")).json()
    assert node["spec"]["source"] == "standalone"
    assert node["spec"]["hostId"] == "Mac Studio (Office)"
    assert node["conditions"][0]["reason"] == "HeartbeatRenewed"
    assert len(node["models"]) == len(report.ollama.models)


async def test_heartbeat_asks_for_report_only_when_digest_unknown(api: Api) -> None:
    name, auth = await enroll(api, "h1")
    report = fake_report(1)
    hb = f"/api/v1/agents/{name}/heartbeat"
    r = await api.client.post(hb, json={"digest": report.digest()}, headers=auth)
    assert r.status_code == 200 and r.json()["reportNeeded"] is True
    await api.client.put(
        f"/api/v1/agents/{name}/report",
        json=report.model_dump(mode="json", by_alias=True),
        headers=auth,
    )
    writes = api.state.store.writes
    r = await api.client.post(hb, json={"digest": report.digest()}, headers=auth)
    assert r.json()["reportNeeded"] is False
    # The same report again is accepted but not written.
    r = await api.client.put(
        f"/api/v1/agents/{name}/report",
        json=report.model_dump(mode="json", by_alias=True),
        headers=auth,
    )
    assert r.status_code == 200 and api.state.store.writes == writes
    # Heartbeat times reach the database in a batch.
    assert await api.state.ingest.flush() == 1
    async with api.state.sessions() as s:
        seen = (await s.execute(select(Node.last_seen_at).where(Node.name == name))).scalar_one()
    assert seen is not None and seen.tzinfo is not None


async def test_node_token_cannot_write_another_node(api: Api) -> None:
    a, auth_a = await enroll(api, "host-a")
    b, _ = await enroll(api, "host-b")
    body = fake_report(0).model_dump(mode="json", by_alias=True)
    r = await api.client.put(f"/api/v1/agents/{b}/report", json=body, headers=auth_a)
    assert r.status_code == 403 and "host-a" in r.json()["detail"]
    r = await api.client.post(
        f"/api/v1/agents/{b}/heartbeat", json={"digest": "0" * 64}, headers=auth_a
    )
    assert r.status_code == 403
    r = await api.client.put(
        f"/api/v1/agents/{a}/report", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert r.status_code == 401
    r = await api.client.put(f"/api/v1/agents/{a}/report", json=body)
    assert r.status_code == 401


async def test_expired_revoked_and_malformed_enrollment_tokens(api: Api) -> None:
    revoked = await new_token(api)
    r = await api.client.delete(
        f"/api/v1/enrollment-tokens/{revoked.split('.')[0]}", headers=api.admin
    )
    assert r.status_code == 204
    r = await api.client.post(
        "/api/v1/agents/enroll", json={"enrollmentToken": revoked, "hostId": "x"}
    )
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    expired = await new_token(api)
    async with api.state.sessions() as s, s.begin():
        await s.execute(
            update(EnrollmentToken)
            .where(EnrollmentToken.token_id == expired.split(".")[0])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = await api.client.post(
        "/api/v1/agents/enroll", json={"enrollmentToken": expired, "hostId": "x"}
    )
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    r = await api.client.post(
        "/api/v1/agents/enroll", json={"enrollmentToken": "abcdef.0123456789abcdef", "hostId": "x"}
    )
    assert r.status_code == 401 and "unknown" in r.json()["detail"]
    r = await api.client.post(
        "/api/v1/agents/enroll", json={"enrollmentToken": "ABC.def", "hostId": "x"}
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("enrollmentToken:")
    listed = (await api.client.get("/api/v1/enrollment-tokens", headers=api.admin)).json()
    assert {t["tokenId"] for t in listed} == {revoked.split(".")[0], expired.split(".")[0]}
    assert "token" not in listed[0]
    assert (await api.client.post("/api/v1/enrollment-tokens", json={})).status_code == 401


async def test_wrong_shaped_report_is_422_naming_the_field(api: Api) -> None:
    name, auth = await enroll(api, "h")
    body = fake_report(0).model_dump(mode="json", by_alias=True)
    body["hardware"]["gpus"] = [{"index": 0, "vendor": "acme", "name": "x"}]
    body["hardware"]["cpu"]["physicalCores"] = "many"
    r = await api.client.put(f"/api/v1/agents/{name}/report", json=body, headers=auth)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "hardware.gpus[0].vendor:" in detail and "hardware.cpu.physicalCores:" in detail
    body = fake_report(0).model_dump(mode="json", by_alias=True)
    body["ollama"]["models"] = ["not a model line"]
    r = await api.client.put(f"/api/v1/agents/{name}/report", json=body, headers=auth)
    assert r.status_code == 422 and "ollama.models[0]" in r.json()["detail"]
    r = await api.client.post(
        f"/api/v1/agents/{name}/heartbeat", json={"digest": "short"}, headers=auth
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("digest:")


async def test_oversized_body_is_413(api: Api) -> None:
    name, auth = await enroll(api, "h")
    body = fake_report(0, models=200).model_dump(mode="json", by_alias=True)
    body["hardware"]["errors"] = ["x" * 1000] * 1200
    r = await api.client.put(f"/api/v1/agents/{name}/report", json=body, headers=auth)
    assert r.status_code == 413 and "OBT_API__MAX_BODY_BYTES" in r.json()["detail"]

    # Without Content-Length (chunked), the streamed size is what counts.
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(1200):
            yield b"x" * 1000

    r = await api.client.put(f"/api/v1/agents/{name}/report", content=chunks(), headers=auth)
    assert r.status_code == 413


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_rate_limits_answer_429_with_retry_after(db_url: str) -> None:
    settings = make_settings(
        db_url,
        rate_limit={
            "per_token_per_minute": 12,
            "per_ip_per_minute": 0,
            "enroll_per_ip_per_minute": 3,
        },
    )
    async with running_api(settings) as api:
        token = await new_token(api)
        name, auth = await enroll(api, "h", token)
        codes = []
        for _ in range(4):
            r = await api.client.post(
                f"/api/v1/agents/{name}/heartbeat", json={"digest": "0" * 64}, headers=auth
            )
            codes.append(r.status_code)
        assert codes[:2] == [200, 200] and codes[-1] == 429
        assert int(r.headers["Retry-After"]) >= 1 and "node token" in r.json()["detail"]
        for _ in range(3):
            r = await api.client.post(
                "/api/v1/agents/enroll", json={"enrollmentToken": token, "hostId": "h"}
            )
        assert r.status_code == 429 and "Retry-After" in r.headers
    ip_limited = make_settings(db_url, rate_limit={"per_ip_per_minute": 6})
    async with running_api(ip_limited) as api:
        # 6 a minute is a burst of 1 and one more every 10 s: the second and third requests,
        # sent at once, are over the limit.
        answers = [await api.client.get("/api/v1/nodes") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 429, 429]
        for r in answers[1:]:
            retry = int(r.headers["Retry-After"])
            assert 1 <= retry <= 10
            assert r.json() == {
                "detail": f"rate limit exceeded for this address; retry after {retry}s"
            }
        assert (await api.client.get("/healthz")).status_code == 200  # probes are never limited


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_local_liveness_marks_silent_hosts_not_ready_then_removes_them(db_url: str) -> None:
    cfg = LivenessConfig().scaled(
        0.01
    )  # 0.3 s NotReady, 0.6 s removal, no startup grace to speak of
    async with running_api(make_settings(db_url), liveness=cfg) as api:
        name, auth = await enroll(api, "sleepy")
        await api.client.put(
            f"/api/v1/agents/{name}/report",
            json=fake_report(0).model_dump(mode="json", by_alias=True),
            headers=auth,
        )
        ingest = api.state.ingest
        cred = ingest.by_name[name]
        await ingest.judge_once(cred.last_seen + timedelta(seconds=0.1))
        assert (await api.client.get(f"/api/v1/nodes/{name}")).json()["phase"] == "Ready"
        await ingest.judge_once(cred.last_seen + timedelta(seconds=0.4))
        node = (await api.client.get(f"/api/v1/nodes/{name}")).json()
        assert node["phase"] == "NotReady" and node["conditions"][0]["reason"] == "LeaseExpired"
        assert [h["phase"] for h in node["history"]] == ["NotReady", "Ready"]
        await ingest.judge_once(cred.last_seen + timedelta(seconds=0.7))
        assert (await api.client.get(f"/api/v1/nodes/{name}")).status_code == 404
        removed = (await api.client.get("/api/v1/nodes/-/removed")).json()
        assert removed[0]["name"] == name and removed[0]["reason"] == "AgentGone"


async def test_enroll_again_replaces_the_token(api: Api) -> None:
    token = await new_token(api)
    name, old = await enroll(api, "same-host", token)
    name2, new = await enroll(api, "same-host", token)
    assert name2 == name
    hb = f"/api/v1/agents/{name}/heartbeat"
    assert (await api.client.post(hb, json={"digest": "0" * 64}, headers=old)).status_code == 401
    assert (await api.client.post(hb, json={"digest": "0" * 64}, headers=new)).status_code == 200
    r = await api.client.post(
        "/api/v1/agents/enroll", json={"enrollmentToken": token, "hostId": "SAME host"}
    )
    assert r.status_code == 409 and r.json()["detail"].startswith("hostId:")


async def test_heartbeat_telemetry_reaches_the_node_page_and_other_replicas(api: Api) -> None:
    """Live GPU figures ride on heartbeats: shown in the node's detail, persisted with the
    batched last-seen flush (so a replica that did not receive the heartbeat shows them too),
    never written to the node row (no node event, no new resourceVersion)."""
    name, auth = await enroll(api, "gaming-pc")
    report = fake_report(1)
    await put_report(api, name, auth, report)
    before = (await api.client.get(f"/api/v1/nodes/{name}")).json()
    assert before["telemetry"] is None
    writes = api.state.store.writes
    telemetry = {
        "gpus": [
            {"index": 0, "utilizationPercent": 87.5, "temperatureC": 71, "powerW": 312.4},
            {"index": 1, "utilizationPercent": 0, "memoryUsedBytes": 1048576},
        ]
    }
    r = await api.client.post(
        f"/api/v1/agents/{name}/heartbeat",
        json={"digest": report.digest(), "telemetry": telemetry},
        headers=auth,
    )
    assert r.status_code == 200 and r.json()["reportNeeded"] is False, r.text
    node = (await api.client.get(f"/api/v1/nodes/{name}")).json()
    assert node["telemetry"]["gpus"][0] == {
        "index": 0,
        "utilizationPercent": 87.5,
        "temperatureC": 71.0,
        "powerW": 312.4,
        "memoryUsedBytes": None,
    }
    assert node["telemetry"]["gpus"][1]["memoryUsedBytes"] == 1048576
    assert node["telemetryAt"] is not None
    assert api.state.store.writes == writes  # the node row was not written
    assert node["updatedAt"] == before["updatedAt"]

    # Another replica knows only what the flush persisted.
    await api.state.ingest.flush()
    cred = api.state.ingest.by_name[name]
    cred.telemetry = cred.telemetry_at = None
    node = (await api.client.get(f"/api/v1/nodes/{name}")).json()
    assert node["telemetry"]["gpus"][0]["utilizationPercent"] == 87.5

    # Wrong figures: 422 naming the field, and what was stored stays.
    r = await api.client.post(
        f"/api/v1/agents/{name}/heartbeat",
        json={"digest": report.digest(), "telemetry": {"gpus": [{"index": 0, "powerW": -5}]}},
        headers=auth,
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("telemetry.gpus[0].powerW:"), r.json()
    node = (await api.client.get(f"/api/v1/nodes/{name}")).json()
    assert node["telemetry"]["gpus"][0]["utilizationPercent"] == 87.5

    # A heartbeat without figures (the GPU went away, or a CPU-only host) clears them.
    r = await api.client.post(
        f"/api/v1/agents/{name}/heartbeat", json={"digest": report.digest()}, headers=auth
    )
    assert r.status_code == 200
    await api.state.ingest.flush()
    assert (await api.client.get(f"/api/v1/nodes/{name}")).json()["telemetry"] is None
