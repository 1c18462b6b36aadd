"""CPU: model, vendor, architecture, cores, sockets, top frequency and inference-relevant flags.

Linux reads /proc/cpuinfo and sysfs below the host root (py-cpuinfo would read the container's
view and start a subprocess of itself); macOS asks sysctl; Windows asks WMI for model and cores
and py-cpuinfo for the flags (Win32_Processor has none; py-cpuinfo reads CPUID).
"""

from __future__ import annotations

import platform
import re
from typing import ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.core.models import CpuInfo, HardwareStatus

# x86 flags (as /proc/cpuinfo spells them) that tell which inference kernels can run.
X86_FLAGS = {
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
}
# ARM feature words -> the names people use for them.
ARM_FLAGS = {
    "asimd": "neon",
    "asimddp": "dotprod",
    "asimdhp": "fp16",
    "sve": "sve",
    "sve2": "sve2",
    "i8mm": "i8mm",
    "bf16": "bf16",
    "sme": "sme",
}
ARM_IMPLEMENTERS = {
    "0x41": "ARM",
    "0x42": "Broadcom",
    "0x48": "HiSilicon",
    "0x4e": "NVIDIA",
    "0x51": "Qualcomm",
    "0x61": "Apple",
    "0xc0": "Ampere",
}
ARM_PARTS = {
    ("0x41", "0xd08"): "Cortex-A72",
    ("0x41", "0xd0b"): "Cortex-A76",
    ("0x41", "0xd0c"): "Neoverse-N1",
    ("0x41", "0xd40"): "Neoverse-V1",
    ("0x41", "0xd49"): "Neoverse-N2",
    ("0x41", "0xd4f"): "Neoverse-V2",
    ("0x41", "0xd84"): "Neoverse-V3",
    ("0x41", "0xd8e"): "Neoverse-N3",
    ("0xc0", "0xac3"): "Ampere-1",
    ("0xc0", "0xac4"): "Ampere-1a",
}
# sysctl hw.optional.arm.FEAT_* on Apple silicon -> flag names used above.
APPLE_FEATURES = {
    "hw.optional.arm.FEAT_DotProd": "dotprod",
    "hw.optional.arm.FEAT_FP16": "fp16",
    "hw.optional.arm.FEAT_BF16": "bf16",
    "hw.optional.arm.FEAT_I8MM": "i8mm",
    "hw.optional.arm.FEAT_SME": "sme",
}
SYSCTL_KEYS = [
    "machdep.cpu.brand_string",
    "hw.machine",
    "hw.physicalcpu",
    "hw.logicalcpu",
    "hw.packages",
    "hw.cpufrequency_max",
    "hw.memsize",
    *APPLE_FEATURES,
]


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per processor block."""
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        entry: dict[str, str] = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if "processor" in entry:
            blocks.append(entry)
    return blocks


def parse_sysctl(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return values


def normalize_arch(machine: str) -> str:
    machine = machine.lower()
    if machine in ("aarch64", "arm64"):
        return "arm64"
    if machine in ("amd64", "x86_64", "x64"):
        return "x86_64"
    return machine


class CpuSource:
    name: ClassVar[str] = "cpu"

    def applies(self, probe: Probe) -> bool:
        return True

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        if probe.system == "Linux":
            result.cpu = self._linux(probe, result)
        elif probe.system == "Darwin":
            result.cpu = self.from_sysctl(parse_sysctl(await probe.run(["sysctl", *SYSCTL_KEYS])))
        elif probe.system == "Windows":
            result.cpu = await self._windows(probe)
            result.cpu.flags = await self._windows_flags(probe, result.cpu.arch, result)

    def _linux(self, probe: Probe, result: SourceResult) -> CpuInfo:
        blocks = parse_cpuinfo(probe.read("/proc/cpuinfo"))
        if not blocks:
            raise ValueError("/proc/cpuinfo lists no processor")
        first = blocks[0]
        cpu = CpuInfo(logical_cores=len(blocks))
        if "CPU implementer" in first:
            implementer = first["CPU implementer"].lower()
            part = first.get("CPU part", "").lower()
            cpu.arch = "arm64" if first.get("CPU architecture", "8") >= "8" else "arm"
            cpu.vendor = ARM_IMPLEMENTERS.get(implementer, implementer)
            cpu.model = first.get("model name") or ARM_PARTS.get(
                (implementer, part), f"{cpu.vendor} {part}"
            )
            words = set(first.get("Features", "").split())
            cpu.flags = sorted({ARM_FLAGS[w] for w in words if w in ARM_FLAGS})
        else:
            cpu.arch = "x86_64" if "lm" in first.get("flags", "").split() else "x86"
            cpu.vendor = first.get("vendor_id")
            cpu.model = first.get("model name")
            cpu.flags = sorted(X86_FLAGS & set(first.get("flags", "").split()))
        cpu.sockets, cpu.physical_cores = self._topology(probe, blocks)
        cpu.max_frequency_mhz = self._max_mhz(probe, blocks, result)
        return cpu

    def _topology(self, probe: Probe, blocks: list[dict[str, str]]) -> tuple[int, int]:
        """(sockets, physical cores) from cpuinfo's physical id / core id, else from sysfs."""
        pairs = {(b.get("physical id"), b.get("core id")) for b in blocks}
        if all(p[0] is not None and p[1] is not None for p in pairs):
            return len({p[0] for p in pairs}), len(pairs)
        packages: set[str] = set()
        cores: set[tuple[str, str]] = set()
        for block in blocks:
            base = f"/sys/devices/system/cpu/cpu{block['processor']}/topology"
            package = probe.read_optional(f"{base}/physical_package_id")
            core = probe.read_optional(f"{base}/core_id")
            if package is None or core is None:
                # No SMT on the ARM servers that omit topology: one core per logical CPU.
                return 1, len(blocks)
            packages.add(package)
            cores.add((package, core))
        return len(packages), len(cores)

    def _max_mhz(
        self, probe: Probe, blocks: list[dict[str, str]], result: SourceResult
    ) -> int | None:
        khz = probe.read_optional("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        if khz and khz.isdigit():
            return int(khz) // 1000
        model = blocks[0].get("model name", "")
        rated = re.search(r"@\s*([\d.]+)\s*GHz", model)
        if rated:
            return round(float(rated.group(1)) * 1000)
        return None

    @staticmethod
    def from_sysctl(values: dict[str, str]) -> CpuInfo:
        brand = values.get("machdep.cpu.brand_string")
        arch = normalize_arch(values.get("hw.machine") or platform.machine())
        flags: set[str] = set()
        if arch == "arm64":
            flags.add("neon")
            flags |= {name for key, name in APPLE_FEATURES.items() if values.get(key) == "1"}
        freq = values.get("hw.cpufrequency_max")

        def number(key: str) -> int | None:
            value = values.get(key, "")
            return int(value) if value.isdigit() else None

        return CpuInfo(
            model=brand,
            vendor="Apple" if brand and brand.startswith("Apple") else "GenuineIntel",
            arch=arch,
            physical_cores=number("hw.physicalcpu"),
            logical_cores=number("hw.logicalcpu"),
            sockets=number("hw.packages"),
            max_frequency_mhz=int(freq) // 1_000_000 if freq and freq.isdigit() else None,
            flags=sorted(flags),
        )

    @staticmethod
    async def _windows_flags(probe: Probe, arch: str | None, result: SourceResult) -> list[str]:
        try:
            info = await probe.cached("py-cpuinfo", probe.cpu_info)
        except Exception as exc:  # not installed, or its CPUID child failed
            result.fail(f"py-cpuinfo gave no CPU flags: {exc or type(exc).__name__}")
            return []
        words = {str(f).lower() for f in info.get("flags") or []}
        if arch == "arm64":
            return sorted({ARM_FLAGS[w] for w in words if w in ARM_FLAGS})
        return sorted(X86_FLAGS & words)

    async def _windows(self, probe: Probe) -> CpuInfo:
        rows = await probe.windows("Win32_Processor")
        if not rows:
            raise ValueError("Win32_Processor returned no rows")
        first = rows[0]
        # Win32_Processor.Architecture: 9 = x64, 12 = ARM64, 0 = x86.
        arch = {9: "x86_64", 12: "arm64", 0: "x86"}.get(first.get("Architecture") or -1)
        return CpuInfo(
            model=(first.get("Name") or "").strip() or None,
            vendor=first.get("Manufacturer"),
            arch=arch or normalize_arch(platform.machine()),
            physical_cores=sum(int(r.get("NumberOfCores") or 0) for r in rows) or None,
            logical_cores=sum(int(r.get("NumberOfLogicalProcessors") or 0) for r in rows) or None,
            sockets=len(rows),
            max_frequency_mhz=first.get("MaxClockSpeed"),
        )
