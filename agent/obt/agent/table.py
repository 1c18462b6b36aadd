"""The report as a few aligned lines for people (`obt agent detect`)."""

from __future__ import annotations

from obt.core.report import AgentReport
from obt.core.summary import format_gib


def render_table(report: AgentReport) -> str:
    hw, ollama, summary = report.hardware, report.ollama, report.summary()
    rows: list[tuple[str, str]] = [
        ("OS", f"{summary.os} (kernel {hw.os.kernel or '?'}) on {hw.os.hostname or '?'}"),
        ("CPU", f"{summary.cpu or '?'} {hw.cpu.arch or ''}, {hw.cpu.logical_cores or '?'} threads"),
        ("CPU flags", " ".join(hw.cpu.flags) or "-"),
        ("Memory", format_gib(hw.memory.total_bytes or 0)),
    ]
    for gpu in hw.gpus:
        extra = ", ".join(
            x
            for x in (
                gpu.compute_api,
                gpu.compute_capability and f"cc {gpu.compute_capability}",
                gpu.architecture,
                gpu.pci_bus_id,
            )
            if x
        )
        memory = format_gib(gpu.memory_total_bytes or 0)
        rows.append(
            (
                f"GPU {gpu.vendor} {gpu.index}",
                f"{gpu.name}, {memory}" + (f" ({extra})" if extra else ""),
            )
        )
    for npu in hw.npus:
        rows.append(("NPU", npu.name + (f", {npu.tops:g} TOPS" if npu.tops else "")))
    if ollama.reachable:
        rows.append(
            (
                "Ollama",
                f"{ollama.version} at {ollama.url}: {summary.models} models, {summary.loaded} loaded",
            )
        )
        rows.extend(("  model", m.name) for m in ollama.models)
        rows.extend(
            ("  loaded", f"{m.name} ({format_gib(m.size_vram or 0)} VRAM)") for m in ollama.loaded
        )
    else:
        rows.append(("Ollama", f"unreachable at {ollama.url}: {ollama.error}"))
    rows.extend(("Error", e) for e in hw.errors)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
