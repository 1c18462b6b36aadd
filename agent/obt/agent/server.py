"""The agent's small HTTP server: /healthz (process up), /readyz (see health.py), /metrics."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from aiohttp import web

from obt.agent.detect import Detector
from obt.agent.health import Health
from obt.agent.metrics import render
from obt.agent.sources import Sample


def resident_memory_bytes() -> int | None:
    if sys.platform.startswith("linux"):
        try:
            pages = int(open("/proc/self/statm").read().split()[1])  # noqa: SIM115
        except (OSError, ValueError, IndexError):
            return None
        return pages * os.sysconf("SC_PAGE_SIZE")
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


def agent_samples(detector: Detector, health: Health) -> list[Sample]:
    ready, _ = health.readiness()
    samples = [
        Sample("obt_agent_detection_cycles_total", detector.cycles),
        Sample("obt_agent_detection_duration_seconds", detector.last_cycle_seconds),
        Sample("obt_agent_detection_cpu_seconds", detector.last_cycle_cpu_seconds),
        Sample("obt_agent_api_writes_total", health.writes),
        Sample("obt_agent_api_failures_total", health.failures),
        Sample("obt_agent_ready", 1 if ready else 0),
    ]
    rss = resident_memory_bytes()
    if rss is not None:
        samples.append(Sample("obt_agent_resident_memory_bytes", rss))
    if health.last_cycle_at is not None:
        # health's clock is monotonic; convert to wall time for Prometheus.
        wall = time.time() - (health.clock() - health.last_cycle_at)
        samples.append(Sample("obt_agent_last_cycle_timestamp_seconds", round(wall, 3)))
    return samples


def make_app(detector: Detector, health: Health, errors: Callable[[], int]) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ready, reason = health.readiness()
        return web.Response(text=reason + "\n", status=200 if ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        samples = [
            *detector.last_samples,
            *agent_samples(detector, health),
            Sample("obt_agent_detection_errors", errors()),
        ]
        return web.Response(
            text=render(samples), content_type="text/plain", headers={"X-Format": "0.0.4"}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
