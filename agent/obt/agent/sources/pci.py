"""Intel GPUs and NPUs (Intel NPU, AMD XDNA, Qualcomm AI 100, Movidius, other processing
accelerators) on Linux, from PCI sysfs (vendor, device and class ids, bound driver; device node,
driver and firmware versions through `accel.pci_npu_details`); `lspci -nn` output is the
fallback where /sys/bus/pci is not visible, and names Intel GPUs when it is installed.

NVIDIA and AMD GPUs are left to their own sources.
"""

from __future__ import annotations

import re
from typing import ClassVar

from obt.agent.sources.accel import pci_npu_details
from obt.agent.sources.base import CommandError, Probe, SourceResult
from obt.core.models import GpuInfo, HardwareStatus, NpuInfo
from obt.core.models.hardware import NpuVendor

# vendor:device -> (vendor, name, vendor-rated INT8 TOPS or None)
NPUS: dict[str, tuple[NpuVendor, str, float | None]] = {
    "8086:7d1d": ("intel", "Intel NPU (Meteor Lake)", 11.0),
    "8086:ad1d": ("intel", "Intel NPU (Arrow Lake)", 13.0),
    "8086:643e": ("intel", "Intel NPU (Lunar Lake)", 48.0),
    "8086:b03e": ("intel", "Intel NPU (Panther Lake)", 50.0),
    "1022:1502": ("amd", "AMD XDNA (Ryzen AI, Phoenix/Hawk Point)", None),
    "1022:17f0": ("amd", "AMD XDNA 2 (Ryzen AI, Strix/Krackan)", 50.0),
    "17cb:a100": ("qualcomm", "Qualcomm Cloud AI 100", None),
}
ACCELERATOR_VENDORS: dict[str, NpuVendor] = {
    "8086": "intel",
    "1022": "amd",
    "17cb": "qualcomm",
    "1d87": "rockchip",
    "03e7": "movidius",
}
INTEL_DISCRETE = {"56a0", "56a1", "56a5", "56a6", "5690", "5691", "5692", "e20b", "e20c"}
LSPCI_LINE = re.compile(
    r"^(?P<slot>\S+)\s+(?P<class>.+?)\s+\[(?P<classid>[0-9a-f]{4})\]:\s+(?P<name>.*?)\s+"
    r"\[(?P<vendor>[0-9a-f]{4}):(?P<device>[0-9a-f]{4})\](?:\s+\(rev (?P<rev>[0-9a-f]+)\))?",
    re.IGNORECASE,
)


class PciDevice:
    def __init__(
        self, slot: str, vendor: str, device: str, class_id: str, driver: str | None
    ) -> None:
        self.slot = slot
        self.vendor = vendor.lower()
        self.device = device.lower()
        self.class_id = class_id.lower()  # 4 hex digits: class + subclass, e.g. '1200'
        self.driver = driver
        self.name: str | None = None

    @property
    def pci_id(self) -> str:
        return f"{self.vendor}:{self.device}"


def parse_lspci(text: str) -> list[PciDevice]:
    devices: list[PciDevice] = []
    for line in text.splitlines():
        match = LSPCI_LINE.match(line.strip())
        if match:
            slot = match["slot"] if match["slot"].count(":") == 2 else f"0000:{match['slot']}"
            device = PciDevice(slot, match["vendor"], match["device"], match["classid"], None)
            device.name = match["name"]
            devices.append(device)
    return devices


def intel_gpu_name(lspci_name: str | None, device: str) -> str:
    if lspci_name:
        bracket = re.search(r"\[([^\]]*(?:Graphics|Arc|Iris|UHD)[^\]]*)\]", lspci_name)
        if bracket:
            name = bracket.group(1)
            return name if name.startswith("Intel") else f"Intel {name}"
        return lspci_name.replace("Intel Corporation ", "Intel ")
    return f"Intel GPU [8086:{device}]"


class PciSource:
    name: ClassVar[str] = "pci"

    def applies(self, probe: Probe) -> bool:
        return probe.system == "Linux"

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        devices = self._sysfs(probe, result)
        names: dict[str, str] = {}
        wanted = any(d.vendor == "8086" and d.class_id.startswith("03") for d in devices)
        if not devices or wanted:
            listed = await self._lspci(probe, result, quiet=bool(devices))
            if not devices:
                devices = listed
            names = {d.slot: d.name for d in listed if d.name}
        for device in devices:
            device.name = device.name or names.get(device.slot)
            self._classify(probe, device, result)

    def _sysfs(self, probe: Probe, result: SourceResult) -> list[PciDevice]:
        root = probe.path("/sys/bus/pci/devices")
        if not root.is_dir():
            return []
        devices: list[PciDevice] = []
        for entry in sorted(root.iterdir(), key=lambda p: p.name):
            base = f"/sys/bus/pci/devices/{entry.name}"
            try:
                vendor = probe.read(f"{base}/vendor").strip().removeprefix("0x")
                device = probe.read(f"{base}/device").strip().removeprefix("0x")
                class_id = probe.read(f"{base}/class").strip().removeprefix("0x")[:4]
            except FileNotFoundError:
                continue
            except OSError as exc:
                result.fail(f"cannot read {base}: {exc.strerror or exc}")
                continue
            uevent = probe.read_optional(f"{base}/uevent") or ""
            driver = next(
                (line[7:] for line in uevent.splitlines() if line.startswith("DRIVER=")), None
            )
            devices.append(PciDevice(entry.name, vendor, device, class_id, driver))
        return devices

    async def _lspci(self, probe: Probe, result: SourceResult, quiet: bool) -> list[PciDevice]:
        try:
            text: str = await probe.cached("lspci", lambda: probe.run(["lspci", "-nn"]))
        except CommandError as exc:
            if not quiet and "not found" not in str(exc):
                result.fail(str(exc))
            return []
        return parse_lspci(text)

    def _classify(self, probe: Probe, device: PciDevice, result: SourceResult) -> None:
        known = NPUS.get(device.pci_id)
        if known or (device.class_id == "1200" and device.vendor in ACCELERATOR_VENDORS):
            vendor, name, tops = known or (
                ACCELERATOR_VENDORS[device.vendor],
                device.name or f"Accelerator [{device.pci_id}]",
                None,
            )
            result.npus.append(
                NpuInfo(
                    vendor=vendor,
                    name=name,
                    pci_device_id=device.pci_id,
                    driver=device.driver,
                    bus="pci",
                    tops=tops,
                    **pci_npu_details(probe, device.slot, device.driver),
                )
            )
        elif device.vendor == "8086" and device.class_id.startswith("03"):
            index = sum(1 for g in result.gpus if g.vendor == "intel")
            result.gpus.append(
                GpuInfo(
                    index=index,
                    vendor="intel",
                    name=intel_gpu_name(device.name, device.device),
                    pci_bus_id=device.slot,
                    pci_device_id=device.pci_id,
                    unified_memory=device.device not in INTEL_DISCRETE,
                )
            )
