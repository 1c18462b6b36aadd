"""HTTP mode against a fake of the OBT API: enrollment, change-only reports, heartbeats,
recovery after an outage (simulated clock; real sockets on 127.0.0.1)."""

from __future__ import annotations

import os
import random
import stat

from obt.agent.detect import Detector
from obt.agent.health import Health
from obt.agent.http import HttpReporter, load_state
from obt.agent.runner import AgentLoop
from obt.agent.sources import default_sources
from tests.agent.fake_obt_api import ENROLLMENT_TOKEN, FakeObtApi
from tests.agent.fake_ollama import QWEN
from tests.agent.recorded import recorded_probe


async def make_agent(api, ollama, clock, tmp_path, **options):
    machine = options.pop("machine", "aws-c7g-graviton3")
    probe = recorded_probe(machine, ollama_url=ollama.url)
    detector = Detector(probe=probe, mode="http", sources=default_sources())
    health = Health(interval=15, clock=clock, ready_cycles=3, failure_threshold=2)
    reporter = HttpReporter(
        api.url,
        health,
        clock,
        data_dir=tmp_path / "state",
        host_id=options.pop("host_id", "graviton-1"),
        enroll_token=options.pop("enroll_token", ENROLLMENT_TOKEN),
        heartbeat_interval=10,
        max_backoff=options.pop("max_backoff", 8),
        request_timeout=2,
        rng=random.Random(4),
        **options,
    )
    loop = AgentLoop(detector, reporter, health, interval=15, clock=clock)
    return loop, reporter, health


async def run_for(loop, clock, seconds: float, tick: float = 1.0) -> None:
    """Simulated time: step the loop every `tick` seconds of the fake clock."""
    end = clock() + seconds
    while clock() < end:
        await loop.step()
        clock.advance(tick)


async def test_enrolls_reports_once_then_only_heartbeats(ollama, clock, tmp_path) -> None:
    api = await FakeObtApi().start()
    loop, reporter, health = await make_agent(api, ollama, clock, tmp_path)
    try:
        await run_for(loop, clock, 120)
        assert api.count("POST", "/enroll") == 1
        assert api.count("PUT", "/report") == 1  # nothing changed in two minutes
        assert 11 <= api.count("POST", "/heartbeat") <= 12  # every 10 s
        state = tmp_path / "state" / "agent-state.json"
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
        saved = load_state(tmp_path / "state", api.url)
        assert saved is not None and saved.node_name == "graviton-1"
        body = api.reports["graviton-1"]
        assert body["hardware"]["cpu"]["model"] == "Neoverse-V1"  # camelCase wire form
        assert body["ollama"]["models"][0].startswith("llama3.1:8b 46e0c10c039e")
        assert health.readiness() == (True, "ok")

        ollama.load(QWEN)  # a model is loaded: exactly one more report
        await run_for(loop, clock, 60)
        assert api.count("PUT", "/report") == 2
        assert api.reports["graviton-1"]["ollama"]["loaded"][0]["name"] == "qwen2.5:0.5b"
    finally:
        await reporter.close()
        await api.stop()


async def test_server_away_60s_then_back_recovers_with_current_report(
    ollama, clock, tmp_path
) -> None:
    api = await FakeObtApi().start()
    loop, reporter, health = await make_agent(api, ollama, clock, tmp_path)
    try:
        await run_for(loop, clock, 30)
        assert api.count("PUT", "/report") == 1
        await api.stop()  # the server goes away for 60 s ...
        ollama.pull(QWEN)  # ... and meanwhile the node changes
        await run_for(loop, clock, 60)
        assert health.readiness()[0] is False
        assert "failed in a row" in health.readiness()[1]
        assert reporter.blocked_until > clock()  # backing off, not hammering
        api.forget()
        api.calls.clear()
        await api.start()  # same port, restarted without the last digest
        await run_for(loop, clock, 15)
        puts = [c for c in api.calls if c.method == "PUT"]
        assert puts, "the agent did not recover on its own"
        first = api.calls[0]
        assert first.method == "PUT", "the latest report is the first thing sent"
        names = [m.split()[0] for m in first.body["ollama"]["models"]]
        assert names == ["llama3.1:8b", "qwen2.5:0.5b"]  # current, not the pre-outage report
        assert health.readiness() == (True, "ok")
    finally:
        await reporter.close()
        await api.stop()


async def test_backoff_grows_with_jitter_and_is_capped(ollama, clock, tmp_path) -> None:
    api = await FakeObtApi().start()
    await api.stop()  # never there
    loop, reporter, _ = await make_agent(api, ollama, clock, tmp_path, max_backoff=8)
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


async def test_restarted_server_asks_for_the_report_through_the_heartbeat(
    ollama, clock, tmp_path
) -> None:
    api = await FakeObtApi().start()
    loop, reporter, _ = await make_agent(api, ollama, clock, tmp_path)
    try:
        await run_for(loop, clock, 20)
        api.forget()  # e.g. an in-memory server restarted between two heartbeats
        await run_for(loop, clock, 11)
        assert api.count("PUT", "/report") == 2
        assert "graviton-1" in api.reports
    finally:
        await reporter.close()
        await api.stop()


async def test_429_honours_retry_after(ollama, clock, tmp_path) -> None:
    api = await FakeObtApi().start()
    loop, reporter, _ = await make_agent(api, ollama, clock, tmp_path)
    try:
        await loop.step()  # enroll + report
        api.too_many = 1
        clock.advance(10)
        await loop.step()  # heartbeat -> 429 Retry-After: 2
        assert reporter.blocked_until - clock() == 2
    finally:
        await reporter.close()
        await api.stop()


async def test_issued_token_is_used_and_a_refused_token_makes_the_agent_unready(
    ollama, clock, tmp_path
) -> None:
    api = await FakeObtApi().start()
    api.tokens["issued-token"] = "graviton-1"
    loop, reporter, health = await make_agent(
        api, ollama, clock, tmp_path, enroll_token=None, token="issued-token"
    )
    try:
        assert await loop.step() is True
        assert api.count("POST", "/enroll") == 0
        api.tokens.clear()  # revoked
        for _ in range(2):
            clock.advance(10)
            await loop.step()
        ready, reason = health.readiness()
        assert not ready and "refused this host's node token" in reason
    finally:
        await reporter.close()
        await api.stop()


async def test_heartbeats_carry_the_gpus_live_figures(ollama, clock, tmp_path) -> None:
    """A GPU host's heartbeats carry each GPU's utilization, temperature, power and memory in
    use (from the same samples as /metrics); its report stays free of them, so idle stays idle."""
    api = await FakeObtApi().start()
    loop, reporter, _ = await make_agent(
        api, ollama, clock, tmp_path, machine="rtx4060ti-x2-desktop", host_id="gpu-desk"
    )
    try:
        await run_for(loop, clock, 60)
        beats = [c.body for c in api.calls if c.path.endswith("/heartbeat")]
        assert len(beats) >= 4
        for beat in beats:
            assert beat["telemetry"] == {
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
        assert api.count("PUT", "/report") == 1
        assert "utilizationPercent" not in str(api.reports["gpu-desk"])
    finally:
        await reporter.close()
        await api.stop()
