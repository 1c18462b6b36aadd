"""The registry of detection sources and the loop that runs them.

Adding a source is one module in this package and one line in `default_sources`.
"""

from __future__ import annotations

import logging

from obt.agent.sources.accel import AccelSource
from obt.agent.sources.amd import AmdSource
from obt.agent.sources.apple import AppleSource
from obt.agent.sources.base import Probe, Sample, Source, SourceResult
from obt.agent.sources.cpu import CpuSource
from obt.agent.sources.memory import MemorySource
from obt.agent.sources.nvidia import NvidiaSource
from obt.agent.sources.ollama import OllamaSource
from obt.agent.sources.os import OsSource
from obt.agent.sources.pci import PciSource
from obt.agent.sources.windows import WindowsSource
from obt.core.models import HardwareStatus, OllamaStatus

log = logging.getLogger("obt.agent.sources")

__all__ = [
    "Detection",
    "Probe",
    "Sample",
    "Source",
    "SourceResult",
    "default_sources",
    "detect_all",
]


def default_sources() -> list[Source]:
    # Order matters where sources dedupe: windows skips GPUs nvidia already reported.
    return [
        CpuSource(),
        MemorySource(),
        OsSource(),
        NvidiaSource(),
        AmdSource(),
        PciSource(),
        AccelSource(),
        AppleSource(),
        WindowsSource(),
        OllamaSource(),
    ]


class Detection:
    """One detection cycle's outcome: the report's facts plus the samples for /metrics."""

    def __init__(self) -> None:
        self.hardware = HardwareStatus()
        self.ollama = OllamaStatus()
        self.samples: list[Sample] = []


async def detect_all(probe: Probe, sources: list[Source]) -> Detection:
    """Run every source that applies; a failing one is named in `errors`, the rest stands."""
    detection = Detection()
    hardware = detection.hardware
    for source in sources:
        if not source.applies(probe):
            continue
        result = SourceResult()
        try:
            await source.detect(probe, hardware, result)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            log.warning(
                "%s: detection failed: %s",
                source.name,
                reason,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            result.fail(reason)
        for reason in result.errors:
            log.debug("%s: %s", source.name, reason)
            hardware.errors.append(f"{source.name}: {reason}")
        hardware.cpu = result.cpu or hardware.cpu
        hardware.memory = result.memory or hardware.memory
        hardware.os = result.os or hardware.os
        hardware.gpus.extend(result.gpus)
        hardware.npus.extend(result.npus)
        if result.ollama is not None:
            detection.ollama = result.ollama
        detection.samples.extend(result.samples)
    hardware.gpus.sort(key=lambda g: (g.vendor, g.index))
    return detection
