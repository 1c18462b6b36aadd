"""Apple silicon (macOS): chip, GPU cores, unified memory, Neural Engine.

One `system_profiler SPHardwareDataType SPDisplaysDataType SPSoftwareDataType -json` run (slow:
about a quarter of a second) is shared with the os source and kept for the hardware interval.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.core.models import GpuFeatures, GpuInfo, HardwareStatus, NpuInfo

SYSTEM_PROFILER = [
    "system_profiler",
    "SPHardwareDataType",
    "SPDisplaysDataType",
    "SPSoftwareDataType",
    "-json",
]
# Apple-rated Neural Engine TOPS by chip generation (M1..M4); Ultra chips have two engines.
NEURAL_ENGINE_TOPS = {1: 11.0, 2: 15.8, 3: 18.0, 4: 38.0}
VENDORS = {"sppci_vendor_apple": "apple", "sppci_vendor_amd": "amd", "sppci_vendor_intel": "intel"}


async def system_profiler(probe: Probe) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        data = json.loads(await probe.run(SYSTEM_PROFILER))
        if not isinstance(data, dict):
            raise ValueError("system_profiler printed no JSON object")
        return data

    result: dict[str, Any] = await probe.cached("system_profiler", run)
    return result


def parse_size(text: str | None) -> int | None:
    """'64 GB' -> bytes (Apple means GiB here), '1536 MB' -> bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([GMT])B\s*", text or "")
    if not match:
        return None
    factor = {"M": 1024**2, "G": 1024**3, "T": 1024**4}[match.group(2)]
    return int(float(match.group(1)) * factor)


def chip_generation(chip: str) -> int | None:
    match = re.search(r"\bM(\d+)\b", chip)
    return int(match.group(1)) if match else None


class AppleSource:
    name: ClassVar[str] = "apple"

    def applies(self, probe: Probe) -> bool:
        return probe.system == "Darwin"

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        data = await system_profiler(probe)
        hardware = (data.get("SPHardwareDataType") or [{}])[0]
        chip = str(hardware.get("chip_type") or "")
        memory = parse_size(hardware.get("physical_memory"))
        generation = chip_generation(chip)
        for index, display in enumerate(data.get("SPDisplaysDataType") or []):
            vendor = VENDORS.get(str(display.get("spdisplays_vendor", "")).lower())
            name = str(display.get("sppci_model") or display.get("_name") or chip)
            if vendor is None:
                vendor = "apple" if name.startswith("Apple") else "other"
            apple = vendor == "apple"
            metal = str(display.get("spdisplays_mtlgpufamilysupport") or "")
            cores = str(display.get("sppci_cores") or "")
            result.gpus.append(
                GpuInfo(
                    index=index,
                    vendor=vendor,
                    name=name,
                    memory_total_bytes=memory
                    if apple
                    else parse_size(display.get("spdisplays_vram")),
                    unified_memory=apple,
                    compute_api=metal.replace("spdisplays_metal", "Metal ").strip() or None,
                    architecture=f"Apple M{generation}" if apple and generation else None,
                    cores=int(cores) if cores.isdigit() else None,
                    features=GpuFeatures(
                        tensor_cores=False, fp16=True, bf16=bool(generation and generation >= 2)
                    )
                    if apple
                    else GpuFeatures(),
                )
            )
        if generation:
            ultra = "Ultra" in chip
            tops = NEURAL_ENGINE_TOPS.get(generation)
            result.npus.append(
                NpuInfo(
                    vendor="apple",
                    name=f"Apple Neural Engine ({chip.removeprefix('Apple ')})",
                    cores=32 if ultra else 16,
                    tops=(tops * 2 if ultra else tops) if tops else None,
                )
            )
