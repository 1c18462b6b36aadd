"""The agent's loop: detect every interval, hand the report to the reporter, serve probes.

Time is injectable (`clock`, `sleep`) so tests run ten simulated minutes in milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from obt.agent.detect import Detector
from obt.agent.health import Health
from obt.agent.settings import AgentSettings
from obt.agent.sources import Probe
from obt.core.models.node import AgentMode
from obt.core.report import AgentReport
from obt.core.telemetry import Telemetry

log = logging.getLogger(__name__)


class Reporter(Protocol):
    def offer(self, report: AgentReport, telemetry: Telemetry | None = None) -> None: ...

    def next_due(self) -> float: ...

    async def step(self) -> bool: ...

    async def close(self) -> None: ...


def make_probe(settings: AgentSettings) -> Probe:
    return Probe(
        host_root=settings.agent.host_root,
        ollama_url=settings.agent.ollama_url,
        report_available_memory=settings.agent.report_available_memory,
        request_timeout=min(
            settings.agent.request_timeout_seconds, settings.agent.interval_seconds
        ),
        memo_seconds=settings.agent.hardware_interval_seconds,
    )


def make_detector(settings: AgentSettings, mode: AgentMode | None) -> Detector:
    return Detector(
        probe=make_probe(settings),
        mode=mode,
        pod_name=settings.pod_name,
        pod_namespace=settings.pod_namespace,
    )


class AgentLoop:
    def __init__(
        self,
        detector: Detector,
        reporter: Reporter,
        health: Health,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.detector = detector
        self.reporter = reporter
        self.health = health
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.next_detect = clock()
        self.last_report: AgentReport | None = None

    async def step(self) -> bool:
        """Detect if due, then let the reporter send what is due. True when delivered."""
        if self.clock() >= self.next_detect:
            self.last_report = await self.detector.detect()
            self.health.cycle_done()
            self.reporter.offer(self.last_report, self.detector.telemetry())
            self.next_detect = self.clock() + self.interval
        return await self.reporter.step()

    def wake_at(self) -> float:
        return min(self.next_detect, self.reporter.next_due())

    async def run(self, once: bool = False) -> bool:
        while True:
            delivered = await self.step()
            if once:
                return delivered
            await self.sleep(max(0.05, self.wake_at() - self.clock()))


async def run_agent(settings: AgentSettings, once: bool = False) -> int:
    """`obt agent`: build the reporter for the mode, serve probes, loop. Returns an exit code."""
    kubernetes = settings.kubernetes_mode()
    mode: AgentMode = "kubernetes" if kubernetes else "http"
    detector = make_detector(settings, mode)
    health = Health(
        interval=settings.agent.interval_seconds,
        clock=time.monotonic,
        ready_cycles=settings.agent.ready_cycles,
        failure_threshold=settings.agent.api_failure_threshold,
    )
    reporter: Reporter
    if kubernetes:
        from obt.agent.reporters.http import USER_AGENT
        from obt.agent.reporters.kubernetes import KubernetesReporter
        from obt.core.kube import ConfigError, KubeClient, load_config

        if not settings.node_name:
            log.error(
                "Kubernetes mode needs the node name: set OBT_NODE_NAME (downward API spec.nodeName) or --node-name"
            )
            return 2
        try:
            config = load_config(settings.agent.kubeconfig)
        except ConfigError as exc:
            log.error("Kubernetes mode: %s", exc)
            return 2
        kube = KubeClient(
            config,
            user_agent=USER_AGENT,
            timeout=settings.agent.request_timeout_seconds,
        )
        reporter = KubernetesReporter(
            kube,
            settings.node_name,
            health,
            time.monotonic,
            settings.agent.api_check_interval_seconds,
        )
    elif settings.agent.server:
        from obt.agent.reporters.http import HttpReporter, load_state

        token = settings.agent.token.get_secret_value() if settings.agent.token else None
        enroll = (
            settings.agent.enroll_token.get_secret_value() if settings.agent.enroll_token else None
        )
        if (
            not token
            and not enroll
            and load_state(settings.agent.data_dir, settings.agent.server.rstrip("/")) is None
        ):
            log.error(
                "HTTP mode needs --token, --enroll-token, or a state file from an earlier enrollment in %s",
                settings.agent.data_dir,
            )
            return 2
        try:
            reporter = HttpReporter(
                settings.agent.server,
                health,
                time.monotonic,
                data_dir=settings.agent.data_dir,
                host_id=settings.agent.host_id,
                token=token,
                enroll_token=enroll,
                ca_file=settings.agent.ca_file,
                display_name=settings.agent.display_name,
                labels=settings.agent.labels,
                replace=settings.agent.replace,
                heartbeat_interval=settings.agent.heartbeat_interval_seconds,
                max_backoff=settings.agent.max_backoff_seconds,
                request_timeout=settings.agent.request_timeout_seconds,
            )
        except ValueError as exc:  # an unreadable --ca-file
            log.error("%s", exc)
            return 2
    else:
        log.error(
            "nothing to report to: give --server URL (standalone host) or run in Kubernetes (--kubernetes)"
        )
        return 2
    loop = AgentLoop(detector, reporter, health, settings.agent.interval_seconds)
    site = None
    address = settings.listen_address()
    if address and not once:
        from obt.agent.server import make_app, start_server

        site = await start_server(
            make_app(
                detector,
                health,
                lambda: len(loop.last_report.hardware.errors) if loop.last_report else 0,
            ),
            *address,
        )
        log.info("serving /healthz, /readyz, /metrics on %s:%d", *address)
    log.info("obt agent started in %s mode", mode)
    try:
        delivered = await loop.run(once=once)
    finally:
        await reporter.close()
        if site is not None:
            await site.cleanup()
    return 0 if delivered else 1
