"""The printer-column summary derived from raw facts."""

from __future__ import annotations

import pytest

from obt.core.models import (
    CpuInfo,
    GpuInfo,
    HardwareStatus,
    LoadedModel,
    OllamaStatus,
    OsInfo,
)
from obt.core.summary import format_gib, gpu_summary, summarize

MIB = 1024**2


def _gpu(i: int, name: str, mib: int, vendor: str = "nvidia") -> GpuInfo:
    return GpuInfo(index=i, vendor=vendor, name=name, memory_total_bytes=mib * MIB)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        ([_gpu(i, "NVIDIA H100 80GB HBM3", 81559) for i in range(2)], "2x H100 80GB"),
        ([_gpu(0, "NVIDIA GeForce RTX 4090", 24564)], "1x RTX 4090 24GB"),
        (
            [
                _gpu(0, "NVIDIA GeForce RTX 4090", 24564),
                _gpu(1, "NVIDIA GeForce RTX 4090", 24564),
                _gpu(2, "NVIDIA GeForce RTX 3060", 12288),
            ],
            "2x RTX 4090 24GB + 1x RTX 3060 12GB",
        ),
        ([_gpu(0, "AMD Instinct MI300X", 196592, "amd")], "1x Instinct MI300X 192GB"),
        ([], ""),
    ],
)
def test_gpu_summary(gpus: list[GpuInfo], expected: str) -> None:
    assert gpu_summary(gpus) == expected


def test_format_gib() -> None:
    assert format_gib(0) == "0"
    assert format_gib(int(4.7 * 1024**3)) == "4.7Gi"
    assert format_gib(80 * 1024**3) == "80Gi"


def test_summarize_counts_loaded_vram_not_driver_usage() -> None:
    hardware = HardwareStatus(
        cpu=CpuInfo(model="Intel(R) Xeon(R) Platinum 8480+", physical_cores=112),
        os=OsInfo(system="Linux", distro="Ubuntu", distro_version="22.04"),
        gpus=[_gpu(i, "NVIDIA H100 80GB HBM3", 81920) for i in range(8)],
    )
    ollama = OllamaStatus(
        reachable=True,
        loaded=[LoadedModel(name="llama3.1:70b", size=40 * 1024**3, size_vram=40 * 1024**3)],
    )
    summary = summarize(hardware, ollama)
    assert summary.gpus == "8x H100 80GB"
    assert summary.vram == "40Gi/640Gi"
    assert summary.loaded == 1 and summary.models == 0
    assert summary.cpu == "Intel Xeon Platinum 8480+ (112c)"
    assert summary.os == "Ubuntu 22.04"


def test_summarize_without_facts() -> None:
    summary = summarize(None, None)
    assert summary.gpus == "" and summary.vram == "" and summary.models == 0
