"""System memory: total, swap, and (only on request, rounded down to whole GiB) available.

Free memory moves all the time, so by default it is left out of the report and exported only on
/metrics (`obt_memory_available_bytes`): an idle node then causes no writes (docs/agent.md).
"""

from __future__ import annotations

from typing import ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.agent.sources.cpu import SYSCTL_KEYS, parse_sysctl
from obt.core.models import HardwareStatus, MemoryInfo

GIB = 1024**3


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo in bytes."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            factor = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            values[key.strip()] = int(parts[0]) * factor
    return values


def floor_gib(num_bytes: int) -> int:
    return (num_bytes // GIB) * GIB


class MemorySource:
    name: ClassVar[str] = "memory"

    def applies(self, probe: Probe) -> bool:
        return True

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        total: int | None = None
        available: int | None = None
        swap: int | None = None
        if probe.system == "Linux":
            info = parse_meminfo(probe.read("/proc/meminfo"))
            total = info.get("MemTotal")
            available = info.get("MemAvailable")
            swap = info.get("SwapTotal")
        else:
            if probe.system == "Darwin":
                memsize = parse_sysctl(await probe.run(["sysctl", *SYSCTL_KEYS])).get("hw.memsize")
                total = int(memsize) if memsize and memsize.isdigit() else None
            elif probe.system == "Windows":
                rows = await probe.windows("Win32_ComputerSystem")
                total = int(rows[0]["TotalPhysicalMemory"]) if rows else None
            available, swap = _psutil_figures(probe)
        result.memory = MemoryInfo(
            total_bytes=total,
            swap_total_bytes=swap,
            available_bytes=floor_gib(available)
            if available is not None and probe.report_available_memory
            else None,
        )
        result.sample("obt_memory_total_bytes", total)
        result.sample("obt_memory_available_bytes", available)


def _psutil_figures(probe: Probe) -> tuple[int | None, int | None]:
    """Available memory and swap of the machine the agent runs on (macOS, Windows)."""
    if probe.host_root != probe.host_root.__class__("/"):
        return None, None  # a recorded machine: psutil would describe this one
    import psutil

    return int(psutil.virtual_memory().available), int(psutil.swap_memory().total)
