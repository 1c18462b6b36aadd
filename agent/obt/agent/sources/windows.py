"""Windows GPUs from WMI (Win32_VideoController), with VRAM from the display driver's registry
key: WMI's AdapterRAM is a uint32 and reads 4 GiB for every larger card, so it is used only
when it is clearly below that cap. GPUs that NVML already reported are skipped.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.core.models import GpuInfo, HardwareStatus
from obt.core.models.hardware import GpuVendor

VENDORS: dict[str, GpuVendor] = {
    "10de": "nvidia",
    "1002": "amd",
    "8086": "intel",
    "1414": "microsoft",
}
ADAPTER_RAM_CAP = 4 * 1024**3 - 1024**2  # values at or above this are the uint32 ceiling


def pnp_ids(pnp: str) -> tuple[str, str] | None:
    match = re.search(r"VEN_([0-9A-F]{4})&DEV_([0-9A-F]{4})", pnp.upper())
    return (match.group(1).lower(), match.group(2).lower()) if match else None


class WindowsSource:
    name: ClassVar[str] = "windows"

    def applies(self, probe: Probe) -> bool:
        return probe.system == "Windows"

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        controllers: list[dict[str, Any]] = await probe.cached(
            "Win32_VideoController", lambda: probe.windows("Win32_VideoController")
        )
        try:
            memory_rows: list[dict[str, Any]] = await probe.cached(
                "DisplayAdapterMemory", lambda: probe.windows("DisplayAdapterMemory")
            )
        except Exception as exc:
            result.fail(f"display adapter memory from the registry: {exc}")
            memory_rows = []
        registry = {
            str(row.get("DriverDesc")): int(row["HardwareInformation.qwMemorySize"])
            for row in memory_rows
            if row.get("HardwareInformation.qwMemorySize")
        }
        reported = {g.pci_device_id for g in found.gpus if g.pci_device_id}
        counts: dict[str, int] = {}
        for row in controllers:
            ids = pnp_ids(str(row.get("PNPDeviceID") or ""))
            if ids is None:
                continue
            vendor = VENDORS.get(ids[0], "other")
            pci_id = f"{ids[0]}:{ids[1]}"
            if vendor == "microsoft" or pci_id in reported:
                continue  # the Basic Render Driver, or a GPU NVML described better
            name = str(row.get("Name") or pci_id).strip()
            adapter_ram = row.get("AdapterRAM")
            memory = registry.get(name)
            if (
                memory is None
                and isinstance(adapter_ram, int)
                and 0 < adapter_ram < ADAPTER_RAM_CAP
            ):
                memory = adapter_ram
            index = counts.get(vendor, 0)
            counts[vendor] = index + 1
            result.gpus.append(
                GpuInfo(
                    index=index,
                    vendor=vendor,
                    name=name,
                    pci_device_id=pci_id,
                    memory_total_bytes=memory,
                    driver_version=row.get("DriverVersion"),
                    unified_memory=vendor == "intel" and memory is None,
                )
            )
            if memory is None:
                result.fail(
                    f"{name}: VRAM unknown (AdapterRAM is capped at 4 GiB, no registry size)"
                )
