"""One detection cycle turned into an `AgentReport` (and the samples for /metrics)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from obt.agent.sources import Detection, Probe, Sample, Source, default_sources, detect_all
from obt.core.models import AgentStatus
from obt.core.models.node import AgentMode
from obt.core.report import AgentReport
from obt.core.telemetry import MAX_GPUS, GpuTelemetry, Telemetry
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

    def telemetry(self) -> Telemetry:
        """The last cycle's live GPU figures, for heartbeats (the same samples as /metrics)."""
        return telemetry_from_samples(self.last_samples)


_TELEMETRY_FIELDS = {
    "obt_gpu_utilization_ratio": ("utilization_percent", 100.0),
    "obt_gpu_temperature_celsius": ("temperature_c", 1.0),
    "obt_gpu_power_watts": ("power_w", 1.0),
    "obt_gpu_memory_used_bytes": ("memory_used_bytes", 1.0),
}


def telemetry_from_samples(samples: list[Sample]) -> Telemetry:
    by_gpu: dict[int, dict[str, float | int]] = {}
    for sample in samples:
        field_scale = _TELEMETRY_FIELDS.get(sample.name)
        index = sample.labels.get("gpu", "")
        if field_scale is None or not index.isdigit():
            continue
        name, scale = field_scale
        value = sample.value * scale
        by_gpu.setdefault(int(index), {})[name] = (
            int(value) if name == "memory_used_bytes" else round(value, 1)
        )
    gpus = [GpuTelemetry(index=i, **values) for i, values in sorted(by_gpu.items())]
    return Telemetry(gpus=gpus[:MAX_GPUS])
