"""Derive the printer-column summary of an OllamaNode from its raw facts.

The summary is stored (printer columns can only read stored fields) but never set by hand: this
function is the one place it comes from, so it cannot drift from the facts it summarizes.
"""

from __future__ import annotations

import re
from collections import Counter

from obt.core.models import GpuInfo, HardwareStatus, NodeSummary, OllamaStatus

GIB = 1024**3

_VENDOR_PREFIXES = ("NVIDIA ", "GeForce ", "AMD ", "Radeon(TM) ", "Intel(R) ", "Intel ", "Apple ")
# Memory-package and form-factor words that make names long without telling models apart.
_NOISE_WORDS = {"HBM3", "HBM3e", "HBM2", "HBM2e", "PCIe", "SXM", "SXM2", "SXM4", "SXM5", "NVL"}
_CPU_NOISE = re.compile(r"\((R|TM|tm|r)\)|\bCPU\b|\bProcessor\b|@.*$|\s\d+-Core\b")


def format_gib(num_bytes: int) -> str:
    """'0', '4.7Gi', '80Gi': one decimal below 10 GiB, whole numbers above."""
    if num_bytes <= 0:
        return "0"
    gib = num_bytes / GIB
    if gib < 10:
        return f"{gib:.1f}".rstrip("0").rstrip(".") + "Gi"
    return f"{round(gib)}Gi"


def vram_label(loaded_bytes: int, total_bytes: int) -> str:
    """The VRAM column: '4.7Gi/80Gi' (held by loaded models / total); '' without GPU memory."""
    return f"{format_gib(loaded_bytes)}/{format_gib(total_bytes)}" if total_bytes else ""


def gpu_label(gpu: GpuInfo) -> str:
    """Short name with its memory, e.g. 'H100 80GB', 'RTX 4090 24GB', 'M2 Ultra 192GB'."""
    name = gpu.name.strip()
    changed = True
    while changed:
        changed = False
        for prefix in _VENDOR_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                changed = True
    words = [w for w in name.split() if w not in _NOISE_WORDS]
    name = " ".join(words) or gpu.name
    if gpu.memory_total_bytes:
        gb = f"{round(gpu.memory_total_bytes / GIB)}GB"
        if gb not in name:
            name = f"{name} {gb}"
    return name


def gpu_summary(gpus: list[GpuInfo]) -> str:
    """'8x H100 80GB' or '2x RTX 4090 24GB + 1x RTX 3060 12GB'; '' without GPUs."""
    counts = Counter(gpu_label(g) for g in gpus)
    return " + ".join(f"{n}x {label}" for label, n in counts.most_common())


def cpu_summary(hardware: HardwareStatus) -> str:
    cpu = hardware.cpu
    if not cpu.model:
        return ""
    model = " ".join(_CPU_NOISE.sub("", cpu.model).split())
    cores = cpu.physical_cores or cpu.logical_cores
    return f"{model} ({cores}c)" if cores else model


def os_summary(hardware: HardwareStatus) -> str:
    os_ = hardware.os
    if os_.distro:
        return f"{os_.distro} {os_.distro_version or ''}".strip()
    return f"{os_.system or ''} {os_.release or ''}".strip()


def summarize(hardware: HardwareStatus | None, ollama: OllamaStatus | None) -> NodeSummary:
    """The one function that derives `status.summary`.

    VRAM "used" is what Ollama's loaded models hold (from /api/ps), not the driver's live figure:
    it changes only when a model is loaded or unloaded, so an idle node keeps its object unchanged.
    """
    hardware = hardware or HardwareStatus()
    ollama = ollama or OllamaStatus()
    vram_total = sum(g.memory_total_bytes or 0 for g in hardware.gpus)
    vram_loaded = sum(m.size_vram or 0 for m in ollama.loaded)
    return NodeSummary(
        gpus=gpu_summary(hardware.gpus),
        vram=vram_label(vram_loaded, vram_total),
        vram_total_bytes=vram_total,
        vram_loaded_bytes=vram_loaded,
        models=len(ollama.models),
        loaded=len(ollama.loaded),
        os=os_summary(hardware),
        cpu=cpu_summary(hardware),
    )


def human_duration(seconds: float) -> str:
    """An age as kubectl prints it (k8s.io/apimachinery/pkg/util/duration.HumanDuration):
    45s, 5m10s, 3h20m, 30h, 4d3h, 40d, 3y; shared by `obt nodes` and the test API server."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"
