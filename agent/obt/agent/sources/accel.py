"""NPUs on Linux that are not plain PCI functions, and what sysfs adds to those that are.

- `/sys/class/accel/accel<N>`: the kernel's compute-accelerator class (Intel NPU `intel_vpu`,
  AMD XDNA `amdxdna`, Qualcomm `qaic`, Rockchip `rocket`, ...). Those whose device is a PCI
  function are reported by the pci source, which asks `pci_npu_details` here for the device
  node, the driver version (`/sys/module/<driver>/version`) and the firmware version (AMD
  XDNA's `fw_version` attribute; Intel's driver logs its firmware version but has no such
  attribute). The rest (platform devices on SoCs) are reported here.
- Qualcomm Hexagon NPUs on Snapdragon SoCs: the `fastrpc` driver's compute-DSP device nodes
  (`/sys/class/misc/fastrpc-cdsp*`); the Cloud AI 100 cards are PCI (17cb:a100, pci source).
- Intel Movidius VPUs on USB (vendor 03e7: Neural Compute Stick 1/2), which no kernel driver
  claims (OpenVINO talks to them through libusb). Movidius on PCI is in the pci source.
"""

from __future__ import annotations

import os
from typing import ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.core.models import HardwareStatus, NpuInfo

# USB product ids of Movidius (vendor 03e7), as OpenVINO's udev rules list them.
MOVIDIUS_USB = {
    "2150": "Intel Movidius Myriad 2 (Neural Compute Stick)",
    "2485": "Intel Movidius Myriad X (Neural Compute Stick 2)",
    "f63b": "Intel Movidius Myriad VPU (firmware booted)",
}


def _link_name(probe: Probe, absolute: str) -> str | None:
    """The last part of a sysfs symlink's target (a driver's or a device's name)."""
    try:
        return os.path.basename(os.readlink(probe.path(absolute)))
    except OSError:
        return None


def driver_version(probe: Probe, driver: str | None) -> str | None:
    """The module's own version string (`MODULE_VERSION`), where it declares one."""
    if not driver:
        return None
    return probe.read_optional(f"/sys/module/{driver}/version") or None


def pci_npu_details(probe: Probe, slot: str, driver: str | None) -> dict[str, str | None]:
    """Device node, driver and firmware versions of the NPU at PCI address `slot`."""
    base = f"/sys/bus/pci/devices/{slot}"
    accel = probe.path(f"{base}/accel")
    nodes = sorted(p.name for p in accel.iterdir()) if accel.is_dir() else []
    return {
        "device_path": f"/dev/accel/{nodes[0]}" if nodes else None,
        "driver_version": driver_version(probe, driver),
        "firmware_version": probe.read_optional(f"{base}/fw_version") or None,
    }


class AccelSource:
    name: ClassVar[str] = "accel"

    def applies(self, probe: Probe) -> bool:
        return probe.system == "Linux"

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        self._platform_accel(probe, result)
        self._fastrpc(probe, result)
        self._usb(probe, result)

    def _platform_accel(self, probe: Probe, result: SourceResult) -> None:
        root = probe.path("/sys/class/accel")
        if not root.is_dir():
            return
        for entry in sorted(root.iterdir(), key=lambda p: p.name):
            base = f"/sys/class/accel/{entry.name}"
            uevent = probe.read_optional(f"{base}/device/uevent") or ""
            fields = dict(line.split("=", 1) for line in uevent.splitlines() if "=" in line)
            if "PCI_SLOT_NAME" in fields:
                continue  # a PCI function: the pci source reports it, with these details
            driver = fields.get("DRIVER") or _link_name(probe, f"{base}/device/driver")
            compatible = fields.get("OF_COMPATIBLE_0", "")
            vendor = "rockchip" if compatible.startswith("rockchip,") else "other"
            result.npus.append(
                NpuInfo(
                    vendor=vendor,
                    name=compatible or f"Accelerator ({driver or entry.name})",
                    driver=driver,
                    driver_version=driver_version(probe, driver),
                    firmware_version=probe.read_optional(f"{base}/device/fw_version") or None,
                    bus="platform",
                    device_path=f"/dev/accel/{entry.name}",
                )
            )

    def _fastrpc(self, probe: Probe, result: SourceResult) -> None:
        root = probe.path("/sys/class/misc")
        if not root.is_dir():
            return
        # One entry per compute DSP (cdsp, cdsp1 on parts with two); the secure twins and the
        # audio/sensor DSPs (adsp, sdsp, mdsp) are not NPUs.
        names = sorted(
            p.name
            for p in root.iterdir()
            if p.name.startswith("fastrpc-cdsp") and not p.name.endswith("-secure")
        )
        for name in names:
            result.npus.append(
                NpuInfo(
                    vendor="qualcomm",
                    name=f"Qualcomm Hexagon NPU ({name.removeprefix('fastrpc-')})",
                    driver="fastrpc",
                    driver_version=driver_version(probe, "fastrpc"),
                    bus="platform",
                    device_path=f"/dev/{name}",
                )
            )

    def _usb(self, probe: Probe, result: SourceResult) -> None:
        root = probe.path("/sys/bus/usb/devices")
        if not root.is_dir():
            return
        for entry in sorted(root.iterdir(), key=lambda p: p.name):
            base = f"/sys/bus/usb/devices/{entry.name}"
            vendor = (probe.read_optional(f"{base}/idVendor") or "").lower()
            if vendor != "03e7":
                continue
            product = (probe.read_optional(f"{base}/idProduct") or "").lower()
            name = MOVIDIUS_USB.get(product) or probe.read_optional(f"{base}/product")
            busnum = probe.read_optional(f"{base}/busnum")
            devnum = probe.read_optional(f"{base}/devnum")
            result.npus.append(
                NpuInfo(
                    vendor="movidius",
                    name=name or f"Movidius USB device [03e7:{product}]",
                    usb_device_id=f"03e7:{product}",
                    bus="usb",
                    device_path=(
                        f"/dev/bus/usb/{int(busnum):03d}/{int(devnum):03d}"
                        if busnum and devnum and busnum.isdigit() and devnum.isdigit()
                        else None
                    ),
                )
            )
