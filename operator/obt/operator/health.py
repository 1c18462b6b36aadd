"""/healthz and /metrics, served on `listen` (default :8882) with aiohttp."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from obt.operator.metrics import OperatorMetrics


def health_app(
    metrics: OperatorMetrics, status: Callable[[], dict[str, Any]], stale_after: float
) -> web.Application:
    """`status()` returns a dict for /healthz; the operator is unhealthy when its sweep loop stalls
    (not when the API server is down: restarting us would not bring it back)."""

    async def healthz(_: web.Request) -> web.Response:
        age = time.monotonic() - metrics.last_sweep
        body = {**status(), "last_sweep_seconds_ago": round(age, 3)}
        return web.json_response(body, status=200 if age < stale_after else 503)

    async def serve_metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", serve_metrics)
    return app


class HealthServer:
    """Serves `health_app` on `listen` ("host:port"; empty: not at all)."""

    def __init__(self, app: web.Application, listen: str) -> None:
        self.app = app
        self.listen = listen
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if not self.listen:
            return
        host, _, port = self.listen.rpartition(":")
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host or "0.0.0.0", int(port)).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
