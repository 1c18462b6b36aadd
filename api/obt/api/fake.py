"""Deterministic fake nodes for demos, tests and benchmarks (never used by a real fleet)."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any

from obt.core.report import AgentReport

GIB = 1024**3
_GPUS = [
    ("nvidia", "NVIDIA H100 80GB HBM3", 80),
    ("nvidia", "NVIDIA GeForce RTX 4090", 24),
    ("nvidia", "NVIDIA A100-SXM4-40GB", 40),
    ("amd", "AMD Instinct MI300X", 192),
    ("amd", "AMD Radeon RX 7900 XTX", 24),
    ("intel", "Intel Arc A770", 16),
    ("apple", "Apple M2 Ultra", 192),
]
_FAMILIES = ["llama", "qwen2", "gemma2", "mistral", "phi3", "deepseek2", "granite", "starcoder2"]
_SIZES = ["0.5b", "1.5b", "3b", "7b", "8b", "13b", "14b", "32b", "70b"]
_QUANTS = ["Q4_K_M", "Q4_0", "Q5_K_M", "Q8_0", "F16"]
_VERSIONS = ["0.3.12", "0.4.7", "0.5.4", "0.5.7"]


def model_pool(count: int = 400) -> list[dict[str, Any]]:
    rng = random.Random(42)
    pool = []
    for i in range(count):
        family = _FAMILIES[i % len(_FAMILIES)]
        size = _SIZES[(i // len(_FAMILIES)) % len(_SIZES)]
        quant = _QUANTS[(i // 7) % len(_QUANTS)]
        params = float(size.rstrip("b"))
        pool.append(
            {
                "name": f"{family}-{i // (len(_FAMILIES) * len(_SIZES))}:{size}-{quant.lower()}",
                "digest": f"{rng.getrandbits(48):012x}",
                "size": int(params * 0.6 * GIB) + rng.randrange(GIB // 10),
                "family": family,
                "parameter_size": f"{params:.1f}B",
                "quantization_level": quant,
                "modified_at": datetime(2024, 8, 1, tzinfo=timezone.utc),
            }
        )
    return pool


_POOL = model_pool()


def fake_report(index: int, *, models: int = 20, variant: int = 0) -> AgentReport:
    """Node number `index`; a different `variant` changes what is loaded (a real change)."""
    rng = random.Random(index * 7919 + 1)
    vendor, gpu_name, gib = _GPUS[index % len(_GPUS)]
    gpu_count = 0 if index % 10 == 9 else rng.choice([1, 1, 2, 4, 8])
    gpus = [
        {
            "index": i,
            "vendor": vendor,
            "name": gpu_name,
            "memoryTotalBytes": gib * GIB,
            "unifiedMemory": vendor == "apple",
        }
        for i in range(gpu_count)
    ]
    installed = rng.sample(_POOL, min(models, len(_POOL)))
    installed.sort(key=lambda m: m["name"])
    loaded_n = (index + variant) % 3
    # Like Ollama: a loaded model takes the GPU memory that is left and the rest goes to RAM, so
    # the VRAM held never exceeds the VRAM there is.
    vram_left = gpu_count * gib * GIB
    loaded = []
    for m in installed[variant : variant + loaded_n]:
        in_vram = min(m["size"], vram_left)
        vram_left -= in_vram
        loaded.append(
            {
                "name": m["name"],
                "digest": m["digest"],
                "size": m["size"],
                "sizeVram": in_vram,
                "contextLength": 4096,
            }
        )
    return AgentReport.model_validate(
        {
            "hardware": {
                "cpu": {
                    "model": "AMD EPYC 9654 96-Core Processor",
                    "vendor": "AuthenticAMD",
                    "arch": "x86_64",
                    "physicalCores": 96,
                    "logicalCores": 192,
                },
                "memory": {
                    "totalBytes": 512 * GIB,
                    "availableBytes": (256 + index % 200) * GIB,
                },
                "os": {"system": "Linux", "distro": "Ubuntu", "distroVersion": "22.04"},
                "gpus": gpus,
            },
            "ollama": {
                "url": "http://127.0.0.1:11434",
                "reachable": True,
                "version": _VERSIONS[index % len(_VERSIONS)],
                "models": installed,
                "loaded": loaded,
            },
            "agent": {"version": "0.0.0-fake", "mode": "http"},
        }
    )


def fake_status(
    index: int, *, models: int = 20, variant: int = 0, phase: str = "Ready"
) -> dict[str, Any]:
    report = fake_report(index, models=models, variant=variant)
    status = dict(report.status_patch()["status"])
    status["phase"] = phase
    return status


def fake_name(index: int, prefix: str = "fake") -> str:
    return f"{prefix}-{index:05d}"
