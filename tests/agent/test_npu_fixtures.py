"""NPUs on recorded machines: Linux /sys/class/accel (Intel NPU, AMD XDNA), Movidius on USB,
Qualcomm Hexagon through fastrpc, and Windows' ComputeAccelerator class through WMI (the `wmi`
package, faked from the recordings) with PowerShell as the fallback. Sources: each SOURCE.md."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from obt.agent.sources import default_sources, detect_all
from obt.agent.sources.base import CommandError
from obt.agent.sources.windows import memory_size
from obt.agent.sources.windows_queries import WindowsQueries
from tests.agent.fake_wmi import FakeWinreg, FakeWmiModule
from tests.agent.recorded import FIXTURES, recorded_probe

MIB = 1024**2


async def detect(
    machine: str | Path, system: str = "Linux", only: set[str] | None = None, **overrides: Any
):
    """Run the sources (only those named, for machines that recorded one device family)."""
    sources = [s for s in default_sources() if only is None or s.name in only]
    return await detect_all(recorded_probe(machine, system, **overrides), sources)


def wmi_queries(machine: str) -> tuple[WindowsQueries, FakeWmiModule, list[str]]:
    """The agent's real WMI path over a machine's recordings; PowerShell calls are recorded and
    fail, so a test sees whether the fallback was needed."""
    folder = FIXTURES / machine / "windows"
    wmi = FakeWmiModule(folder)
    powershell_calls: list[str] = []

    async def powershell(name: str) -> list[dict[str, Any]]:
        powershell_calls.append(name)
        raise CommandError("powershell not found")

    queries = WindowsQueries(
        load_wmi=lambda: cast(ModuleType, wmi),
        load_winreg=lambda: cast(ModuleType, FakeWinreg(folder)),
        powershell=powershell,
    )
    return queries, wmi, powershell_calls


async def test_intel_npu_under_sys_class_accel() -> None:
    d = await detect("redmibook14pro-2024-mtl-npu")
    (npu,) = d.hardware.npus  # once: accel0 is the PCI NPU the pci source already reports
    assert (npu.vendor, npu.name, npu.driver, npu.bus) == (
        "intel",
        "Intel NPU (Meteor Lake)",
        "intel_vpu",
        "pci",
    )
    assert npu.device_path == "/dev/accel/accel0"
    # intel_vpu logs its firmware version but has no sysfs attribute for it, and no module
    # version was recorded for this laptop.
    assert (npu.firmware_version, npu.driver_version) == (None, None)
    assert d.hardware.errors == []


async def test_amd_xdna2_with_firmware_version() -> None:
    d = await detect("gpd-pocket4-hx370-xdna2")
    (npu,) = d.hardware.npus
    assert (npu.vendor, npu.name) == ("amd", "AMD XDNA 2 (Ryzen AI, Strix/Krackan)")
    assert (npu.pci_device_id, npu.driver, npu.bus) == ("1022:17f0", "amdxdna", "pci")
    assert (npu.firmware_version, npu.device_path, npu.tops) == (
        "1.0.0.63",
        "/dev/accel/accel0",
        50.0,
    )


async def test_movidius_neural_compute_stick_on_usb() -> None:
    d = await detect("ncs1-usb-openvino11722")
    (npu,) = d.hardware.npus  # the camera, the mouse and the root hubs are not NPUs
    assert (npu.vendor, npu.name) == ("movidius", "Intel Movidius Myriad 2 (Neural Compute Stick)")
    assert (npu.usb_device_id, npu.bus, npu.device_path) == (
        "03e7:2150",
        "usb",
        "/dev/bus/usb/001/012",
    )
    assert npu.pci_device_id is None and npu.driver is None


async def test_driver_version_from_the_module_and_hexagon_through_fastrpc(tmp_path: Path) -> None:
    """Not a recording: a tree written here for what no public capture shows (a module that
    declares its version; a Snapdragon's fastrpc compute-DSP nodes)."""
    import shutil

    root = tmp_path / "m"
    shutil.copytree(FIXTURES / "redmibook14pro-2024-mtl-npu", root)
    (root / "sys/module/intel_vpu").mkdir(parents=True)
    (root / "sys/module/intel_vpu/version").write_text("1.0.0 6.8.0-45-generic\n")
    for name in ("fastrpc-adsp", "fastrpc-cdsp", "fastrpc-cdsp-secure"):
        (root / "sys/class/misc" / name).mkdir(parents=True)
    d = await detect(root)
    intel, hexagon = d.hardware.npus
    assert intel.driver_version == "1.0.0 6.8.0-45-generic"
    assert (hexagon.vendor, hexagon.name, hexagon.driver) == (
        "qualcomm",
        "Qualcomm Hexagon NPU (cdsp)",
        "fastrpc",
    )
    assert (hexagon.bus, hexagon.device_path) == ("platform", "/dev/fastrpc-cdsp")


async def test_windows_npu_from_wmi_compute_accelerator_class() -> None:
    queries, wmi, powershell = wmi_queries("windows-core-ultra7-255hx-npu")
    d = await detect("windows-core-ultra7-255hx-npu", "Windows", {"windows"}, windows=queries)
    hw = d.hardware
    (npu,) = hw.npus
    assert (npu.vendor, npu.name, npu.pci_device_id) == (
        "intel",
        "Intel NPU (Arrow Lake)",
        "8086:ad1d",
    )
    assert (npu.driver_version, npu.bus, npu.tops) == ("32.0.100.5540", "pci", 13.0)
    (gpu,) = hw.gpus
    assert (gpu.name, gpu.memory_total_bytes) == ("Intel(R) Graphics", 128 * MIB)  # REG_BINARY
    assert powershell == [], "WMI and the registry answered: no PowerShell fallback"
    assert hw.errors == []
    assert any("WHERE PNPClass = 'ComputeAccelerator'" in q for q in wmi.queries)


async def test_windows_falls_back_to_powershell_without_pywin32() -> None:
    folder = FIXTURES / "windows-core-ultra7-255hx-npu" / "windows"
    asked: list[str] = []

    def no_wmi() -> ModuleType:
        raise ModuleNotFoundError("No module named 'wmi'", name="wmi")

    async def powershell(name: str) -> list[dict[str, Any]]:
        asked.append(name)
        from obt.agent.sources.base import json_rows

        return json_rows((folder / f"{name}.json").read_text())

    queries = WindowsQueries(load_wmi=no_wmi, load_winreg=no_wmi, powershell=powershell)
    d = await detect("windows-core-ultra7-255hx-npu", "Windows", {"windows"}, windows=queries)
    (npu,) = d.hardware.npus
    assert (npu.name, npu.driver_version) == ("Intel NPU (Arrow Lake)", "32.0.100.5540")
    assert {"ComputeAccelerators", "Win32_VideoController", "DisplayAdapterMemory"} <= set(asked)
    assert "ComputeAccelerators" in queries.fallbacks


async def test_windows_gaming_pc_through_wmi_matches_the_powershell_recording() -> None:
    queries, _, powershell = wmi_queries("windows-rtx4090-pc")
    through_wmi = await detect("windows-rtx4090-pc", "Windows", windows=queries)
    through_powershell = await detect("windows-rtx4090-pc", "Windows")
    assert through_wmi.hardware == through_powershell.hardware
    (gpu,) = through_wmi.hardware.gpus
    assert gpu.memory_total_bytes == 25757220864  # qwMemorySize, not AdapterRAM's 4 GiB cap
    assert through_wmi.hardware.npus == []
    assert powershell == []


@pytest.mark.parametrize(
    ("row", "vendor", "name", "pci"),
    [
        (  # AMD Ryzen AI (Phoenix) as Windows names it; driveridentifier.com lists this id
            {
                "Name": "NPU Compute Accelerator Device",
                "Manufacturer": "Advanced Micro Devices",
                "PNPDeviceID": "PCI\\VEN_1022&DEV_1502&REV_00\\4&1",
            },
            "amd",
            "AMD XDNA (Ryzen AI, Phoenix/Hawk Point)",
            "1022:1502",
        ),
        (  # Snapdragon X: an ACPI device, named by its driver (id written for the test)
            {
                "Name": "Snapdragon(R) X Elite - X1E78100 - Qualcomm(R) Hexagon(TM) NPU",
                "Manufacturer": "Qualcomm Technologies, Inc.",
                "PNPDeviceID": "ACPI\\QCOM0D0A\\0",
            },
            "qualcomm",
            "Snapdragon(R) X Elite - X1E78100 - Qualcomm(R) Hexagon(TM) NPU",
            None,
        ),
    ],
)
async def test_windows_npu_vendors(
    row: dict[str, Any], vendor: str, name: str, pci: str | None
) -> None:
    async def windows(query: str) -> list[dict[str, Any]]:
        return [row] if query == "ComputeAccelerators" else []

    d = await detect("windows-rtx4090-pc", "Windows", windows=windows)
    (npu,) = d.hardware.npus
    assert (npu.vendor, npu.name, npu.pci_device_id) == (vendor, name, pci)
    assert npu.bus == ("pci" if pci else "platform")


def test_qw_memory_size_forms() -> None:
    assert memory_size(25757220864) == 25757220864  # REG_QWORD
    assert memory_size((24 * 1024**3).to_bytes(8, "little")) == 24 * 1024**3  # REG_BINARY
    assert memory_size(list((8 * 1024**3).to_bytes(8, "little"))) == 8 * 1024**3  # PowerShell
    assert memory_size((512 * MIB).to_bytes(4, "little")) == 512 * MIB
    assert memory_size(None) is None and memory_size(b"\x00" * 3) is None
