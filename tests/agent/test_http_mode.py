"""HTTP mode against the real OBT API app (SQLite, uvicorn on 127.0.0.1; the agent on a
simulated clock): enrollment, change-only reports, heartbeats, recovery after an outage, and the
answers a real server gives: 401 (revoked token), 403, 413, 422, 429.

The hand-written fake (fake_obt_api.py) stays for one case the real app cannot produce: a server
that still accepts the node token but has lost the report digest (an in-memory server restarted,
or a database restored from an older backup); the real app persists each node's digest with its
token, so it never loses one while keeping the other.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from obt.agent.detect import Detector
from obt.agent.health import Health
from obt.agent.reporters.http import HttpReporter, load_state
from obt.agent.runner import AgentLoop
from obt.agent.sources import default_sources
from obt.core.report import AgentReport
from obt.core.telemetry import Telemetry
from tests.agent.fake_obt_api import ENROLLMENT_TOKEN, FakeObtApi
from tests.agent.fake_ollama import QWEN
from tests.agent.real_obt_api import RealObtApi
from tests.agent.recorded import FIXTURES, recorded_probe
from tests.api.pg import free_port

REVOKED_LINE = "no longer accepts this host's node token"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[RealObtApi]:
    server = await RealObtApi(tmp_path / "api").start()
    yield server
    await server.stop()


async def make_agent(url: str, ollama, clock, tmp_path: Path, **options: Any):  # type: ignore[no-untyped-def]
    machine = options.pop("machine", "aws-c7g-graviton3")
    probe = recorded_probe(machine, ollama_url=ollama.url)
    detector = Detector(probe=probe, mode="http", sources=default_sources())
    health = Health(interval=15, clock=clock, ready_cycles=3, failure_threshold=2)
    reporter = HttpReporter(
        url,
        health,
        clock,
        data_dir=options.pop("data_dir", tmp_path / "state"),
        host_id=options.pop("host_id", "graviton-1"),
        heartbeat_interval=10,
        max_backoff=options.pop("max_backoff", 8),
        request_timeout=5,
        rng=random.Random(4),
        **options,
    )
    loop = AgentLoop(detector, reporter, health, interval=15, clock=clock)
    return loop, reporter, health


async def run_for(loop: AgentLoop, clock, seconds: float, tick: float = 1.0) -> None:  # type: ignore[no-untyped-def]
    """Simulated time: step the loop every `tick` seconds of the fake clock."""
    end = clock() + seconds
    while clock() < end:
        await loop.step()
        clock.advance(tick)


async def test_enrolls_reports_once_then_only_heartbeats(ollama, clock, tmp_path, api) -> None:
    token = await api.enrollment_token()
    loop, reporter, health = await make_agent(api.url, ollama, clock, tmp_path, enroll_token=token)
    try:
        await run_for(loop, clock, 120)
        assert api.count("POST", "/enroll", 201) == 1
        assert api.count("PUT", "/report", 200) == 1  # nothing changed in two minutes
        assert 11 <= api.count("POST", "/heartbeat", 200) <= 12  # every 10 s
        assert {c.status for c in api.calls} == {200, 201}
        state = tmp_path / "state" / "agent-state.json"
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
        saved = load_state(tmp_path / "state", api.url)
        assert saved is not None and saved.node_name == "graviton-1"
        assert saved.enroll_token_id == token.split(".")[0]
        node = await api.node("graviton-1")
        assert node is not None and node["phase"] == "Ready"
        assert node["hardware"]["cpu"]["model"] == "Neoverse-V1"
        assert node["hardware"]["os"]["machineId"] == "ec2a8f0c3d5e4b6f9a1b2c3d4e5f6a7b"
        assert [m["name"] for m in node["models"]] == ["llama3.1:8b"]
        assert health.readiness() == (True, "ok")

        ollama.load(QWEN)  # a model is loaded: exactly one more report
        await run_for(loop, clock, 60)
        assert api.count("PUT", "/report", 200) == 2
        node = await api.node("graviton-1")
        assert node is not None and [m["name"] for m in node["loaded"]] == ["qwen2.5:0.5b"]
    finally:
        await reporter.close()


async def test_server_away_60s_then_back_recovers_with_current_report(
    ollama, clock, tmp_path, api
) -> None:
    loop, reporter, health = await make_agent(
        api.url, ollama, clock, tmp_path, enroll_token=await api.enrollment_token()
    )
    try:
        await run_for(loop, clock, 30)
        assert api.count("PUT", "/report", 200) == 1
        await api.stop()  # the server goes away for 60 s ...
        ollama.pull(QWEN)  # ... and meanwhile the node changes
        await run_for(loop, clock, 60)
        assert health.readiness()[0] is False
        assert "failed in a row" in health.readiness()[1]
        assert reporter.blocked_until > clock()  # backing off, not hammering
        api.calls.clear()
        await api.start()  # same port and database
        clock.now = reporter.blocked_until
        await run_for(loop, clock, 15)
        assert api.calls, "the agent did not recover on its own"
        first = api.calls[0]
        assert (first.method, first.status) == ("PUT", 200), "the latest report goes first"
        node = await api.node("graviton-1")
        assert node is not None
        # Current, not the pre-outage report.
        assert [m["name"] for m in node["models"]] == ["llama3.1:8b", "qwen2.5:0.5b"]
        assert health.readiness() == (True, "ok")
        assert api.count("POST", "/enroll") == 0  # the token survived the restart
    finally:
        await reporter.close()


async def test_backoff_grows_with_jitter_and_is_capped(ollama, clock, tmp_path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # never there
    loop, reporter, _ = await make_agent(
        nobody, ollama, clock, tmp_path, max_backoff=8, enroll_token=ENROLLMENT_TOKEN
    )
    try:
        delays = []
        for _ in range(6):
            await loop.step()
            delays.append(reporter.blocked_until - clock())
            clock.now = reporter.blocked_until
        # ceilings 1, 2, 4, 8, 8, 8 s; each delay is within [ceiling/2, ceiling]
        for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
            assert ceiling / 2 <= delay <= ceiling
    finally:
        await reporter.close()


async def test_a_server_that_lost_the_digest_gets_the_report_through_the_heartbeat(
    ollama, clock, tmp_path
) -> None:
    """Fake API: it keeps the token but forgets the digest, which the real app never does."""
    fake = await FakeObtApi().start()
    loop, reporter, _ = await make_agent(
        fake.url, ollama, clock, tmp_path, enroll_token=ENROLLMENT_TOKEN
    )
    try:
        await run_for(loop, clock, 20)
        fake.forget()  # e.g. an in-memory server restarted between two heartbeats
        await run_for(loop, clock, 11)
        assert fake.count("PUT", "/report") == 2
        assert "graviton-1" in fake.reports
    finally:
        await reporter.close()
        await fake.stop()


async def test_429_honours_retry_after(ollama, clock, tmp_path: Path) -> None:
    # 6 per minute: a burst of one, then one every 10 s (security.RateLimiter).
    limited = RealObtApi(tmp_path / "api", api={"rate_limit": {"per_token_per_minute": 6}})
    await limited.start()
    loop, reporter, health = await make_agent(
        limited.url, ollama, clock, tmp_path, enroll_token=await limited.enrollment_token()
    )
    try:
        await loop.step()  # enroll + report (the burst)
        clock.advance(10)  # simulated: the server's own clock moved only milliseconds
        await loop.step()  # heartbeat -> 429 Retry-After: 10
        assert limited.count("POST", "/heartbeat", 429) == 1
        waited = reporter.blocked_until - clock()
        # Retry-After (whole seconds, up to 10 s), not the jittered backoff (0.5 to 1 s).
        assert waited == int(waited) and 1 <= waited <= 10
        assert "429" in (health.last_error or "")
    finally:
        await reporter.close()
        await limited.stop()


async def test_an_oversized_report_is_413_and_not_resent_until_it_changes(
    ollama, clock, tmp_path: Path
) -> None:
    small = RealObtApi(tmp_path / "api", api={"max_body_bytes": 1024})
    await small.start()
    loop, reporter, health = await make_agent(
        small.url,
        ollama,
        clock,
        tmp_path,
        machine="hgx-h100x8-thamada",  # eight GPUs: a report of several KiB
        host_id="hgx",
        enroll_token=await small.enrollment_token(),
    )
    try:
        await run_for(loop, clock, 60)
        assert reporter.pending is not None
        assert len(reporter.pending.model_dump_json(by_alias=True)) > 1024
        assert small.count("PUT", "/report", 413) == 1  # refused once, not retried
        assert small.count("POST", "/heartbeat", 200) >= 5  # the host stays alive
        assert reporter.rejected_digest == reporter.pending.digest()
        assert health.failures == 1
    finally:
        await reporter.close()
        await small.stop()


async def test_a_report_the_server_cannot_read_is_422_and_not_resent(
    ollama, clock, tmp_path, api, caplog
) -> None:
    """A newer agent's report an older server refuses (here a figure out of range)."""
    loop, reporter, health = await make_agent(
        api.url, ollama, clock, tmp_path, enroll_token=await api.enrollment_token()
    )
    offer = reporter.offer

    def skewed(report: AgentReport, telemetry: Telemetry | None = None) -> None:
        report.hardware.cpu.physical_cores = -1
        offer(report, telemetry)

    reporter.offer = skewed  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.INFO, logger="obt.agent.reporters.http"):
            await run_for(loop, clock, 60)
        assert api.count("PUT", "/report", 422) == 1
        rejected = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
        assert len(rejected) == 1 and "hardware.cpu.physicalCores" in rejected[0]
        assert api.count("POST", "/heartbeat", 200) >= 5
        assert health.failures == 1
    finally:
        await reporter.close()


async def test_an_enrollment_the_server_cannot_read_is_422_and_said_once(
    ollama, clock, tmp_path, api, caplog
) -> None:
    loop, reporter, health = await make_agent(
        api.url, ollama, clock, tmp_path, host_id="h" * 254, enroll_token=ENROLLMENT_TOKEN
    )
    try:
        with caplog.at_level(logging.INFO, logger="obt.agent.reporters.http"):
            await run_for(loop, clock, 300)
        # Retried at the slowest pace (max_backoff, 8 s here) ...
        assert 2 <= api.count("POST", "/enroll", 422) <= 300 / 8 + 1
        refused = [r for r in caplog.records if "enrollment refused" in r.getMessage()]
        assert len(refused) == 1 and "hostId" in refused[0].getMessage()  # ... said once
        assert not health.readiness()[0]
    finally:
        await reporter.close()


async def test_a_token_of_another_node_is_403(ollama, clock, tmp_path, api, caplog) -> None:
    _, other = await api.enroll("someone-else")
    loop, reporter, health = await make_agent(api.url, ollama, clock, tmp_path, token=other)
    try:
        with caplog.at_level(logging.INFO, logger="obt.agent.reporters.http"):
            await run_for(loop, clock, 60)
        assert 1 <= api.count("PUT", "/report", 403) <= 5  # 8 s doubling: slow retries
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1 and "belongs to another node" in lines[0]
        assert not health.readiness()[0]
    finally:
        await reporter.close()


async def test_a_revoked_token_is_401_said_once_then_slow_retries(
    ollama, clock, tmp_path, api, caplog
) -> None:
    """Must show 2: the admin revokes the host's token; the agent's next request is 401, it logs
    one line saying how to re-enroll and backs off (doubling to 30 min), without re-enrolling
    with the enrollment token it already used. A new enrollment token brings it back."""
    token = await api.enrollment_token()
    loop, reporter, health = await make_agent(api.url, ollama, clock, tmp_path, enroll_token=token)
    try:
        await run_for(loop, clock, 20)
        assert api.count("PUT", "/report", 200) == 1
        r = await api.admin("DELETE", "/api/v1/node-tokens/graviton-1")
        assert r.status_code == 204, r.text
        api.calls.clear()
        with caplog.at_level(logging.DEBUG, logger="obt.agent.reporters.http"):
            await run_for(loop, clock, 6 * 3600, tick=5)  # six simulated hours
        refused = api.count("POST", "/heartbeat", 401) + api.count("PUT", "/report", 401)
        # 8 s doubling to the 30-min cap (each wait 50-100 % of its ceiling) over six hours:
        # 20 to 32 tries, not thousands.
        assert 15 <= refused <= 35, api.calls
        assert api.count("POST", "/enroll") == 0  # not silently back with the used token
        loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(loud) == 1, loud
        assert REVOKED_LINE in loud[0] and "graviton-1" in loud[0]
        assert f"obt agent --server {api.url} --enroll-token TOKEN" in loud[0]
        assert 8 * 2 ** (reporter.refused.attempt - 1) > 1800  # waits reached the cap ...
        assert reporter.blocked_until - clock() <= 1800  # ... and stay under it
        ready, reason = health.readiness()
        assert not ready and REVOKED_LINE in reason
        assert await api.node("graviton-1") is not None  # revoking alone leaves it listed

        # A person hands out a new enrollment token: the agent (restarted with it) is back.
        await reporter.close()
        loop, reporter, health = await make_agent(
            api.url, ollama, clock, tmp_path, enroll_token=await api.enrollment_token()
        )
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="obt.agent.reporters.http"):
            await run_for(loop, clock, 20)
        assert api.count("POST", "/enroll", 201) == 1
        assert health.readiness() == (True, "ok")
        assert any("enrolling again" in r.getMessage() for r in caplog.records)
    finally:
        await reporter.close()


async def test_re_enrolling_another_machine_needs_replace(
    ollama, clock, tmp_path: Path, api, caplog
) -> None:
    """Must show 2: a second machine enrolling the host id of a listed node is refused (409)
    without --replace; with it, it takes the name over and the first machine's token stops."""
    first, first_reporter, _ = await make_agent(
        api.url, ollama, clock, tmp_path, enroll_token=await api.enrollment_token()
    )
    twin = tmp_path / "twin"  # the same recorded machine with another /etc/machine-id
    shutil.copytree(FIXTURES / "aws-c7g-graviton3", twin)
    (twin / "etc" / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    token = await api.enrollment_token()

    async def the_twin(**options: Any):  # type: ignore[no-untyped-def]
        return await make_agent(
            api.url,
            ollama,
            clock,
            tmp_path,
            machine=twin,
            data_dir=tmp_path / "twin-state",
            enroll_token=token,
            **options,
        )

    second, second_reporter, second_health = await the_twin()
    try:
        await run_for(first, clock, 20)
        with caplog.at_level(logging.INFO, logger="obt.agent.reporters.http"):
            await run_for(second, clock, 20)
        assert api.count("POST", "/enroll", 409) >= 1
        refused = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(refused) == 1 and "--replace" in refused[0]
        assert not second_health.readiness()[0]
        node = await api.node("graviton-1")
        assert node is not None
        assert node["hardware"]["os"]["machineId"] == "ec2a8f0c3d5e4b6f9a1b2c3d4e5f6a7b"

        await second_reporter.close()
        second, second_reporter, second_health = await the_twin(replace=True)
        await run_for(second, clock, 20)
        assert second_health.readiness() == (True, "ok")
        node = await api.node("graviton-1")
        assert node is not None
        assert node["hardware"]["os"]["machineId"] == "0123456789abcdef0123456789abcdef"
        api.calls.clear()
        await run_for(first, clock, 20)  # the replaced machine is refused now
        assert api.count("POST", "/heartbeat", 401) >= 1
        assert api.count("POST", "/enroll") == 0  # and does not take the name back
    finally:
        await first_reporter.close()
        await second_reporter.close()


async def test_heartbeats_carry_the_gpus_live_figures(ollama, clock, tmp_path, api) -> None:
    """A GPU host's heartbeats carry each GPU's utilization, temperature, power and memory in
    use (from the same samples as /metrics); its report stays free of them, so idle stays idle."""
    loop, reporter, _ = await make_agent(
        api.url,
        ollama,
        clock,
        tmp_path,
        machine="rtx4060ti-x2-desktop",
        host_id="gpu-desk",
        enroll_token=await api.enrollment_token(),
    )
    try:
        await run_for(loop, clock, 60)
        assert api.count("POST", "/heartbeat", 200) >= 4
        assert api.count("PUT", "/report", 200) == 1
        node = await api.node("gpu-desk")
        assert node is not None
        assert node["telemetry"] == {
            "gpus": [
                {
                    "index": 0,
                    "utilizationPercent": 0.0,
                    "temperatureC": 32.0,
                    "powerW": 30.5,
                    "memoryUsedBytes": 0,
                },
                {
                    "index": 1,
                    "utilizationPercent": 0.0,
                    "temperatureC": 35.0,
                    "powerW": 34.5,
                    "memoryUsedBytes": 0,
                },
            ]
        }
        assert "utilizationPercent" not in str(node["hardware"])
    finally:
        await reporter.close()
