"""AMD GPUs: AMD SMI's Python API if importable, else `rocm-smi --json`, over the amdgpu sysfs files.

sysfs (no tools needed) gives each card's PCI address, device id and VRAM size, the KFD topology
its gfx target, and the volatile figures for /metrics. `amdsmi` (ROCm >= 6), when it imports and
initialises, supplies names, gfx target, VRAM, driver version and UUID per GPU; otherwise
rocm-smi (if installed) adds marketing names. A failing amdsmi call, a malformed rocm-smi output
or an unreadable sysfs file is named in the errors and the rest is still reported.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from obt.agent.sources.base import CommandError, Probe, SourceResult
from obt.agent.sources.features import amd_architecture, amd_features, normalize_gfx
from obt.core.models import GpuInfo, HardwareStatus

ROCM_SMI = [
    "rocm-smi",
    "--showproductname",
    "--showmeminfo",
    "vram",
    "--showbus",
    "--showdriverversion",
    "--showuniqueid",
    "--json",
]

# PCI device id (and revision where one id covers several boards) -> marketing name.
DEVICE_NAMES: dict[tuple[str, str | None], str] = {
    ("744c", "c8"): "AMD Radeon RX 7900 XTX",
    ("744c", "cc"): "AMD Radeon RX 7900 XT",
    ("744c", "ce"): "AMD Radeon RX 7900 GRE",
    ("7448", None): "AMD Radeon Pro W7900",
    ("73bf", None): "AMD Radeon RX 6800/6900 XT",
    ("7408", None): "AMD Instinct MI250X",
    ("740c", None): "AMD Instinct MI250X/MI250",
    ("740f", None): "AMD Instinct MI210",
    ("738c", None): "AMD Instinct MI100",
    ("74a1", None): "AMD Instinct MI300X",
    ("74a5", None): "AMD Instinct MI325X",
    ("75a0", None): "AMD Instinct MI350X",
    ("66a1", None): "AMD Instinct MI50/MI60",
}


def device_name(device: str, revision: str | None) -> str | None:
    device = device.lower().removeprefix("0x")
    revision = revision.lower().removeprefix("0x") if revision else None
    return DEVICE_NAMES.get((device, revision)) or DEVICE_NAMES.get((device, None))


def location_id(bus_id: str) -> int | None:
    """KFD's location_id for a PCI address: bus << 8 | device << 3 | function."""
    match = re.fullmatch(r"(?:[0-9a-f]{4}:)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])", bus_id.lower())
    if not match:
        return None
    bus, dev, fn = (int(g, 16) for g in match.groups())
    return bus << 8 | dev << 3 | fn


def card_number(path: Path) -> int:
    return int(path.name[4:])


class AmdSource:
    name: ClassVar[str] = "amd"

    def applies(self, probe: Probe) -> bool:
        return probe.system == "Linux"

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        gpus = self._sysfs(probe, result)
        from_amdsmi = self._amdsmi(probe, result)
        if from_amdsmi is not None:
            gpus = self._merge_amdsmi(gpus, from_amdsmi)
        else:
            smi = await self._rocm_smi(probe, result)
            if smi is not None:
                gpus = self._merge(gpus, smi)
        for gpu in gpus:
            if gpu.compute_capability:
                gpu.architecture = amd_architecture(gpu.compute_capability)
                gpu.features = amd_features(gpu.compute_capability)
        result.gpus.extend(gpus)

    # sysfs -----------------------------------------------------------------------------------

    def _sysfs(self, probe: Probe, result: SourceResult) -> list[GpuInfo]:
        drm = probe.path("/sys/class/drm")
        if not drm.is_dir():
            return []
        targets = self._kfd_targets(probe)
        cards = sorted(
            (p for p in drm.iterdir() if re.fullmatch(r"card\d+", p.name)), key=card_number
        )
        gpus: list[GpuInfo] = []
        for card in cards:
            base = f"/sys/class/drm/{card.name}/device"
            uevent = dict(
                line.split("=", 1)
                for line in (probe.read_optional(f"{base}/uevent") or "").splitlines()
                if "=" in line
            )
            if uevent.get("DRIVER") != "amdgpu":
                continue
            vendor_device = uevent.get("PCI_ID", "").lower()
            device = vendor_device.partition(":")[2]
            bus_id = uevent.get("PCI_SLOT_NAME", "").lower() or None
            revision = probe.read_optional(f"{base}/revision")
            name = (
                probe.read_optional(f"{base}/product_name")
                or device_name(device, revision)
                or f"AMD GPU [{vendor_device}]"
            )
            gpu = GpuInfo(
                index=len(gpus),
                vendor="amd",
                name=name,
                pci_bus_id=bus_id,
                pci_device_id=vendor_device or None,
                unified_memory=False,
            )
            gpu.memory_total_bytes = self._read_int(probe, f"{base}/mem_info_vram_total", result)
            unique = probe.read_optional(f"{base}/unique_id")
            gpu.uuid = unique or None
            if bus_id:
                loc = location_id(bus_id)
                gpu.compute_capability = targets.get(loc) if loc is not None else None
            self._metrics(probe, base, gpu, result)
            gpus.append(gpu)
        return gpus

    @staticmethod
    def _read_int(probe: Probe, path: str, result: SourceResult) -> int | None:
        try:
            text = probe.read(path).strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            result.fail(f"cannot read {path}: {exc.strerror or exc}")
            return None
        return int(text) if text.isdigit() else None

    def _kfd_targets(self, probe: Probe) -> dict[int, str]:
        """location_id -> gfx target, from /sys/class/kfd/kfd/topology/nodes/*/properties."""
        nodes = probe.path("/sys/class/kfd/kfd/topology/nodes")
        targets: dict[int, str] = {}
        if not nodes.is_dir():
            return targets
        for node in nodes.iterdir():
            text = probe.read_optional(f"/sys/class/kfd/kfd/topology/nodes/{node.name}/properties")
            props = dict(line.split(" ", 1) for line in (text or "").splitlines() if " " in line)
            version = props.get("gfx_target_version", "0").strip()
            if version != "0" and "location_id" in props:
                gfx = normalize_gfx(version)
                if gfx:
                    targets[int(props["location_id"])] = gfx
        return targets

    def _metrics(self, probe: Probe, base: str, gpu: GpuInfo, result: SourceResult) -> None:
        labels = {"gpu": str(gpu.index), "vendor": "amd", "name": gpu.name}
        busy = probe.read_optional(f"{base}/gpu_busy_percent")
        used = probe.read_optional(f"{base}/mem_info_vram_used")
        if busy and busy.isdigit():
            result.sample("obt_gpu_utilization_ratio", int(busy) / 100, **labels)
        if used and used.isdigit():
            result.sample("obt_gpu_memory_used_bytes", int(used), **labels)
        result.sample("obt_gpu_memory_total_bytes", gpu.memory_total_bytes, **labels)

    # amdsmi ----------------------------------------------------------------------------------

    def _amdsmi(self, probe: Probe, result: SourceResult) -> list[GpuInfo] | None:
        """GPUs through AMD SMI's Python API; None when it is not installed or will not start."""
        try:
            amdsmi = probe.load_amdsmi()
        except ImportError:
            return None  # not installed: the usual case without ROCm >= 6
        except Exception as exc:  # the package imports but its library does not load
            result.fail(f"amdsmi could not be loaded ({exc}); used rocm-smi/sysfs")
            return None
        try:
            amdsmi.amdsmi_init()
        except Exception as exc:
            result.fail(f"amdsmi_init failed ({exc}); used rocm-smi/sysfs")
            return None
        try:
            handles = list(amdsmi.amdsmi_get_processor_handles())
            return [self._amdsmi_gpu(amdsmi, i, h, result) for i, h in enumerate(handles)]
        except Exception as exc:
            result.fail(f"amdsmi_get_processor_handles failed ({exc}); used rocm-smi/sysfs")
            return None
        finally:
            try:
                amdsmi.amdsmi_shut_down()
            except Exception as exc:
                result.fail(f"amdsmi_shut_down failed: {exc}")

    @staticmethod
    def _amdsmi_gpu(amdsmi: ModuleType, index: int, handle: Any, result: SourceResult) -> GpuInfo:
        def call(name: str, *args: Any) -> Any:
            try:
                return getattr(amdsmi, name)(handle, *args)
            except Exception as exc:
                result.fail(f"amdsmi: {name} for GPU {index}: {exc}")
                return None

        def hex_id(value: Any, width: int) -> str | None:
            if isinstance(value, int):
                return f"{value:0{width}x}"
            text = str(value or "").lower().removeprefix("0x")
            return text.zfill(width) if re.fullmatch(r"[0-9a-f]+", text) else None

        asic = call("amdsmi_get_gpu_asic_info") or {}
        bdf = call("amdsmi_get_gpu_device_bdf")
        device = hex_id(asic.get("device_id"), 4)
        revision = hex_id(asic.get("rev_id"), 2)
        market = str(asic.get("market_name") or "").strip()
        gpu = GpuInfo(
            index=index,
            vendor="amd",
            name=(market if market and market.upper() != "N/A" else "")
            or (device_name(device, revision) if device else None)
            or f"AMD GPU [1002:{device or '????'}]",
            pci_bus_id=str(bdf).lower() if bdf else None,
            pci_device_id=f"1002:{device}" if device else None,
            unified_memory=False,
        )
        gpu.compute_capability = normalize_gfx(str(asic.get("target_graphics_version") or ""))
        vram_type = getattr(getattr(amdsmi, "AmdSmiMemoryType", None), "VRAM", None)
        total = call("amdsmi_get_gpu_memory_total", vram_type) if vram_type is not None else None
        if isinstance(total, int) and total > 0:
            gpu.memory_total_bytes = total
        else:  # older amdsmi: amdsmi_get_gpu_vram_info's size in MB ("vram_size_mb" before 6.1)
            vram = call("amdsmi_get_gpu_vram_info") or {}
            size_mb = vram.get("vram_size", vram.get("vram_size_mb"))
            if isinstance(size_mb, int) and size_mb > 0:
                gpu.memory_total_bytes = size_mb * 1024 * 1024
        driver = call("amdsmi_get_gpu_driver_info") or {}
        gpu.driver_version = str(driver.get("driver_version") or "") or None
        uuid = call("amdsmi_get_gpu_device_uuid")
        gpu.uuid = str(uuid) if uuid else None
        return gpu

    @staticmethod
    def _merge_amdsmi(gpus: list[GpuInfo], from_amdsmi: list[GpuInfo]) -> list[GpuInfo]:
        """amdsmi's view wins; a field it could not answer keeps what sysfs found."""
        by_bus = {g.pci_bus_id: g for g in gpus if g.pci_bus_id}
        merged: list[GpuInfo] = []
        for gpu in from_amdsmi:
            seen = by_bus.pop(gpu.pci_bus_id, None) if gpu.pci_bus_id else None
            if seen is not None:
                for name in ("memory_total_bytes", "compute_capability", "pci_device_id", "uuid"):
                    if getattr(gpu, name) is None:
                        setattr(gpu, name, getattr(seen, name))
            merged.append(gpu)
        merged.extend(by_bus.values())  # cards amdsmi did not list (should not happen)
        return merged

    # rocm-smi --------------------------------------------------------------------------------

    async def _rocm_smi(self, probe: Probe, result: SourceResult) -> dict[str, Any] | None:
        try:
            text: str = await probe.cached("rocm-smi", lambda: probe.run(ROCM_SMI))
        except CommandError as exc:
            if "not found" not in str(exc):
                result.fail(str(exc))
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("top level is not an object")
        except ValueError as exc:
            result.fail(f"rocm-smi output is not valid JSON ({exc}); used sysfs only")
            return None
        return data

    def _merge(self, gpus: list[GpuInfo], smi: dict[str, Any]) -> list[GpuInfo]:
        by_bus = {g.pci_bus_id: g for g in gpus if g.pci_bus_id}
        driver = (smi.get("system") or {}).get("Driver version")
        merged: list[GpuInfo] = []
        for key, card in smi.items():
            match = re.fullmatch(r"card(\d+)", key)
            if not match or not isinstance(card, dict):
                continue
            fields = {k.lower(): str(v) for k, v in card.items()}
            bus = fields.get("pci bus", "").lower() or None
            gpu = by_bus.pop(bus, None) if bus else None
            if gpu is None and not bus and len(gpus) > len(merged):
                gpu = gpus[len(merged)]  # no bus id in this rocm-smi output: same order
                if gpu.pci_bus_id:
                    by_bus.pop(gpu.pci_bus_id, None)
            model = fields.get("card model", "").lower().removeprefix("0x")
            gpu = gpu or GpuInfo(
                index=int(match.group(1)),
                vendor="amd",
                name="",
                pci_bus_id=bus,
                pci_device_id=f"1002:{model}" if model else None,
                unified_memory=False,
            )
            gpu.index = int(match.group(1))
            gpu.name = self._smi_name(fields, model) or gpu.name or f"AMD GPU [1002:{model}]"
            vram = fields.get("vram total memory (b)", "")
            if vram.isdigit():
                gpu.memory_total_bytes = int(vram)
            gfx = normalize_gfx(fields.get("gfx version", ""))
            if gfx:
                gpu.compute_capability = gfx
            unique = fields.get("unique id", "")
            if unique and unique.upper() != "N/A":
                gpu.uuid = unique
            if driver:
                gpu.driver_version = str(driver)
            merged.append(gpu)
        merged.extend(by_bus.values())  # cards rocm-smi did not list (should not happen)
        return sorted(merged, key=lambda g: g.index)

    @staticmethod
    def _smi_name(fields: dict[str, str], model: str) -> str | None:
        series = fields.get("card series", "").strip()
        bracket = re.search(r"\[([^\]]+)\]", series)
        if bracket:
            return bracket.group(1)
        if series.lower().startswith(("radeon", "amd radeon", "amd instinct", "instinct")) and (
            "(" not in series
        ):
            return series if series.startswith("AMD") else f"AMD {series}"
        revision = fields.get("device rev")
        return device_name(model, revision) if model else None
