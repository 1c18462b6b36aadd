"""Prometheus text exposition (format 0.0.4) for /metrics, written by hand: prometheus-client
would add its registry and thread machinery to an agent whose budget is 60 MiB of RSS."""

from __future__ import annotations

from collections.abc import Iterable

from obt.agent.sources import Sample

# name -> (type, help). Samples with an unknown name are exported as untyped.
METRICS: dict[str, tuple[str, str]] = {
    "obt_memory_total_bytes": ("gauge", "Physical memory in bytes."),
    "obt_memory_available_bytes": ("gauge", "Memory available to new processes, in bytes."),
    "obt_gpu_memory_total_bytes": ("gauge", "GPU memory in bytes."),
    "obt_gpu_memory_used_bytes": ("gauge", "GPU memory in use, in bytes."),
    "obt_gpu_utilization_ratio": ("gauge", "GPU busy fraction (0-1)."),
    "obt_gpu_temperature_celsius": ("gauge", "GPU temperature."),
    "obt_gpu_power_watts": ("gauge", "GPU power draw."),
    "obt_ollama_up": ("gauge", "1 when the last query to Ollama succeeded."),
    "obt_ollama_models": ("gauge", "Installed Ollama models."),
    "obt_ollama_loaded_model_vram_bytes": ("gauge", "GPU memory held by a loaded model."),
    "obt_ollama_loaded_model_expires_timestamp_seconds": (
        "gauge",
        "When Ollama will unload a model if unused (Unix time).",
    ),
    "obt_agent_detection_cycles_total": ("counter", "Detection cycles completed."),
    "obt_agent_detection_duration_seconds": ("gauge", "Wall time of the last detection cycle."),
    "obt_agent_detection_cpu_seconds": ("gauge", "CPU time of the last detection cycle."),
    "obt_agent_detection_errors": ("gauge", "Sources that failed in the last cycle."),
    "obt_agent_last_cycle_timestamp_seconds": ("gauge", "When the last cycle completed."),
    "obt_agent_api_writes_total": ("counter", "Writes of the report to the API server or OBT API."),
    "obt_agent_api_failures_total": ("counter", "Failed requests to the API server or OBT API."),
    "obt_agent_ready": ("gauge", "1 when /readyz answers 200."),
    "obt_agent_resident_memory_bytes": ("gauge", "Resident memory of the agent process."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(samples: Iterable[Sample]) -> str:
    by_name: dict[str, list[Sample]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)
    lines: list[str] = []
    for name in sorted(by_name):
        kind, help_ = METRICS.get(name, ("untyped", name))
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        for sample in by_name[name]:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels.items()))
            value = (
                repr(sample.value) if sample.value != int(sample.value) else str(int(sample.value))
            )
            lines.append(f"{name}{{{labels}}} {value}" if labels else f"{name} {value}")
    return "\n".join(lines) + "\n"
