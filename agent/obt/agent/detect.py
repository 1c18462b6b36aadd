"""One detection cycle turned into an `AgentReport` (and the samples for /metrics)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from obt.agent.sources import Detection, Probe, Sample, Source, default_sources, detect_all
from obt.core.models import AgentStatus
from obt.core.models.node import AgentMode
from obt.core.report import AgentReport
from obt.core.version import __version__


@dataclass
class Detector:
    """Runs the sources and assembles the report. Keeps NVML initialised between cycles."""

    probe: Probe
    mode: AgentMode | None = None
    pod_name: str | None = None
    pod_namespace: str | None = None
    sources: list[Source] = field(default_factory=default_sources)
    started_at: datetime = field(
        default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0)
    )
    last_samples: list[Sample] = field(default_factory=list)
    last_cycle_seconds: float = 0.0
    last_cycle_cpu_seconds: float = 0.0
    cycles: int = 0

    async def detect(self) -> AgentReport:
        wall, cpu = time.perf_counter(), time.process_time()
        detection: Detection = await detect_all(self.probe, self.sources)
        self.last_cycle_seconds = time.perf_counter() - wall
        self.last_cycle_cpu_seconds = time.process_time() - cpu
        self.last_samples = detection.samples
        self.cycles += 1
        return AgentReport(
            hardware=detection.hardware,
            ollama=detection.ollama,
            agent=AgentStatus(
                version=__version__,
                mode=self.mode,
                started_at=self.started_at,
                pod_name=self.pod_name,
                pod_namespace=self.pod_namespace,
            ),
        )
