"""Windows GPUs and NPUs from WMI (the queries: sources/windows_queries.py).

GPUs: Win32_VideoController, with VRAM from the display driver's registry key
(`HardwareInformation.qwMemorySize`, 64-bit): WMI's AdapterRAM is a uint32 and reads 4 GiB for
every larger card, so it is used only when it is clearly below that cap. GPUs that NVML already
reported are skipped.

NPUs: the devices of the ComputeAccelerator setup class (Intel AI Boost, AMD Ryzen AI / IPU,
Qualcomm Hexagon NPU), named by their PCI ids where the pci source's table knows them.
DirectML-capable adapters are not enumerated: that needs DXCore (a COM API with no WMI or
registry view), see docs/agent.md.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.agent.sources.pci import NPUS
from obt.core.models import GpuInfo, HardwareStatus, NpuInfo
from obt.core.models.hardware import GpuVendor, NpuVendor

VENDORS: dict[str, GpuVendor] = {
    "10de": "nvidia",
    "1002": "amd",
    "8086": "intel",
    "1414": "microsoft",
}
ADAPTER_RAM_CAP = 4 * 1024**3 - 1024**2  # values at or above this are the uint32 ceiling


NPU_VENDORS: dict[str, NpuVendor] = {"8086": "intel", "1022": "amd", "17cb": "qualcomm"}
NPU_MANUFACTURERS: dict[str, NpuVendor] = {"intel": "intel", "amd": "amd", "advanced micro": "amd"}


def memory_size(value: Any) -> int | None:
    """qwMemorySize as a number: REG_QWORD (int), or REG_BINARY (bytes; a list of byte values
    in PowerShell's JSON), little-endian, 4 or 8 bytes long."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value) or None
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        value = bytes(value)
    if isinstance(value, bytes) and len(value) in (4, 8):
        return int.from_bytes(value, "little") or None
    return None


def npu_vendor(ids: tuple[str, str] | None, manufacturer: str, name: str) -> NpuVendor:
    if ids and ids[0] in NPU_VENDORS:
        return NPU_VENDORS[ids[0]]
    text = f"{manufacturer} {name}".lower()
    if "qualcomm" in text or "hexagon" in text:
        return "qualcomm"
    return next((v for k, v in NPU_MANUFACTURERS.items() if k in text), "other")


def pnp_ids(pnp: str) -> tuple[str, str] | None:
    match = re.search(r"VEN_([0-9A-F]{4})&DEV_([0-9A-F]{4})", pnp.upper())
    return (match.group(1).lower(), match.group(2).lower()) if match else None


class WindowsSource:
    name: ClassVar[str] = "windows"

    def applies(self, probe: Probe) -> bool:
        return probe.system == "Windows"

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        try:
            await self._npus(probe, result)
        except Exception as exc:
            result.fail(f"NPUs (ComputeAccelerator class): {exc}")
        await self._gpus(probe, found, result)

    async def _npus(self, probe: Probe, result: SourceResult) -> None:
        rows: list[dict[str, Any]] = await probe.cached(
            "ComputeAccelerators", lambda: probe.windows("ComputeAccelerators")
        )
        for row in rows:
            pnp = str(row.get("PNPDeviceID") or "")
            ids = pnp_ids(pnp)
            pci_id = f"{ids[0]}:{ids[1]}" if ids and pnp.upper().startswith("PCI\\") else None
            known = NPUS.get(pci_id or "")
            name = str(row.get("Name") or "").strip() or pnp
            result.npus.append(
                NpuInfo(
                    vendor=known[0]
                    if known
                    else npu_vendor(ids, str(row.get("Manufacturer") or ""), name),
                    name=known[1] if known else name,
                    pci_device_id=pci_id,
                    driver_version=row.get("DriverVersion") or None,
                    bus="pci" if pci_id else "platform",
                    tops=known[2] if known else None,
                )
            )

    async def _gpus(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
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
        by_name: dict[str, int] = {}
        by_id: dict[str, int] = {}
        for row in memory_rows:
            size = memory_size(row.get("HardwareInformation.qwMemorySize"))
            if size is None:
                continue
            by_name[str(row.get("DriverDesc"))] = size
            ids = pnp_ids(str(row.get("MatchingDeviceId") or ""))
            if ids:
                by_id[f"{ids[0]}:{ids[1]}"] = size
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
            memory = by_name.get(name, by_id.get(pci_id))
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
