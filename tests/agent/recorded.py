"""Build a Probe over a recorded machine under tests/agent/fixtures/<machine>/."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from obt.agent.sources.base import CommandError, Probe, json_rows
from tests.agent.fake_amdsmi import FakeAmdSmi
from tests.agent.fake_pynvml import FakeNvml, NVMLError_LibraryNotFound

FIXTURES = Path(__file__).parent / "fixtures"

# program -> recorded output file in the machine's folder
PROGRAM_FILES = {
    "rocm-smi": "rocm-smi.json",
    "system_profiler": "system_profiler.json",
    "sysctl": "sysctl.txt",
    "lspci": "lspci-nn.txt",
}


def recorded_probe(machine: str | Path, system: str = "Linux", **overrides: Any) -> Probe:
    root = machine if isinstance(machine, Path) else FIXTURES / machine
    calls: list[list[str]] = []

    async def run(args: list[str]) -> str:
        calls.append(args)
        name = PROGRAM_FILES.get(args[0])
        path = root / name if name else None
        if path is None or not path.exists():
            raise CommandError(f"{args[0]} not found")
        return path.read_text()

    async def windows(query: str) -> list[dict[str, Any]]:
        path = root / "windows" / f"{query}.json"
        if not path.exists():
            raise CommandError(f"no recording of {query}")
        return json_rows(path.read_text())

    def load_nvml() -> ModuleType:
        path = root / "nvml.json"
        if not path.exists():
            raise NVMLError_LibraryNotFound()
        return cast(ModuleType, FakeNvml.from_file(path))

    def load_amdsmi() -> ModuleType:
        path = root / "amdsmi.json"
        if not path.exists():
            raise ModuleNotFoundError("No module named 'amdsmi'", name="amdsmi")
        return cast(ModuleType, FakeAmdSmi.from_file(path))

    async def cpu_info() -> dict[str, Any]:
        path = root / "py-cpuinfo.json"
        if not path.exists():
            raise ModuleNotFoundError("no py-cpuinfo recording for this machine")
        data: dict[str, Any] = load_json(path)
        return data

    probe = Probe(
        host_root=root,
        system=system,
        run=run,
        windows=overrides.pop("windows", windows),
        load_nvml=overrides.pop("load_nvml", load_nvml),
        load_amdsmi=overrides.pop("load_amdsmi", load_amdsmi),
        cpu_info=overrides.pop("cpu_info", cpu_info),
        ollama_url=overrides.pop("ollama_url", "http://127.0.0.1:9"),
        request_timeout=overrides.pop("request_timeout", 2.0),
        **overrides,
    )
    probe.calls = calls  # type: ignore[attr-defined]
    return probe


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
