"""The agent's loop: detect every interval, hand the report to the reporter, serve probes.

Time is injectable (`clock`, `sleep`) so tests run ten simulated minutes in milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from obt.agent.detect import Detector
from obt.agent.health import Health
from obt.agent.settings import AgentSettings
from obt.agent.sources import Probe
from obt.core.models.node import AgentMode
from obt.core.report import AgentReport
from obt.core.telemetry import Telemetry
from obt.core.waiting import wait_event

if TYPE_CHECKING:
    from obt.agent.bench import BenchSupport, ResultStore
    from obt.agent.worker import Worker
    from obt.core.models.benchmark import OllamaBenchmark

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


async def _nowhere(activity: list[Any]) -> None:
    """A worker's sink until its reporter sets the real one."""


def make_worker(settings: AgentSettings, node_name: str) -> Worker:
    """The work loop over the local Ollama, with the settings' disk check and retries."""
    from obt.agent.ollama_ops import OllamaOps, models_dir
    from obt.agent.worker import Worker

    config = settings.agent
    ops = OllamaOps(
        config.ollama_url,
        models_path=models_dir(config.host_root, config.ollama_models_dir),
        disk_margin=config.disk_margin_bytes,
        host_root=config.host_root,
        request_timeout=config.request_timeout_seconds,
    )
    return Worker(
        ops,
        node_name,
        _nowhere,
        write_interval=config.activity_write_interval_seconds,
        pull_attempts=config.pull_attempts,
        backoff_cap=config.pull_max_backoff_seconds,
    )


def make_bench(
    settings: AgentSettings,
    store: Callable[[OllamaBenchmark], ResultStore],
    node_name: Callable[[], str],
) -> BenchSupport:
    """The benchmark runner over the local Ollama, for the worker's benchmark steps."""
    from obt.agent.bench import BenchRunner, BenchSupport

    runner = BenchRunner(
        settings.agent.ollama_url,
        node_name(),
        request_timeout=settings.agent.request_timeout_seconds,
    )
    return BenchSupport(runner, store, node_name)


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
        delivered = await self.reporter.step()
        # A reporter that runs model work asks for a detection right after a step ended, so
        # status.ollama shows a pulled or deleted model without waiting for the interval.
        take = getattr(self.reporter, "take_detect_request", None)
        if take is not None and take():
            self.next_detect = self.clock()
        return delivered

    def wake_at(self) -> float:
        return min(self.next_detect, self.reporter.next_due())

    async def run(self, once: bool = False) -> bool:
        while True:
            delivered = await self.step()
            if once:
                return delivered
            delay = max(0.05, self.wake_at() - self.clock())
            wakeup: asyncio.Event | None = getattr(self.reporter, "wakeup", None)
            if wakeup is None:
                await self.sleep(delay)
                continue
            # Work arriving (a task, a step's end) wakes the loop before the delay is up.
            await wait_event(wakeup, min(delay, 3600.0))
            wakeup.clear()  # (cleared here: a reporter that skips its step must not spin us)


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
        work = None
        if settings.agent.work:
            from obt.agent.bench_store import KubernetesResultStore
            from obt.agent.reporters.kube_work import KubeWork

            worker = make_worker(settings, settings.node_name)
            work = KubeWork(
                kube, settings.node_name, worker, health, settings.agent.node_label_prefixes
            )
            worker.sink = work.write_activity
            worker.bench = make_bench(
                settings,
                lambda bench: KubernetesResultStore(kube, bench),
                lambda: settings.node_name or "",
            )
        reporter = KubernetesReporter(
            kube,
            settings.node_name,
            health,
            time.monotonic,
            settings.agent.api_check_interval_seconds,
            work=work,
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
        http_work = None
        if settings.agent.work:
            from obt.agent.reporters.http_work import ACTIVITY_FILE, HttpWork

            # The node name is the host id until enrollment says otherwise (only used in logs).
            http_work = HttpWork(
                make_worker(settings, settings.agent.host_id),
                time.monotonic,
                state_file=settings.agent.data_dir / ACTIVITY_FILE,
            )
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
                work=http_work,
            )
        except ValueError as exc:  # an unreadable --ca-file
            log.error("%s", exc)
            return 2
        if http_work is not None:
            from obt.agent.bench_store import HttpResultStore

            http_work.worker.sink = reporter.send_activity
            http = reporter

            def node_name() -> str:
                return http.credentials.node_name if http.credentials else settings.agent.host_id

            http_work.worker.bench = make_bench(
                settings, lambda _: HttpResultStore(http.call_json, node_name()), node_name
            )
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
