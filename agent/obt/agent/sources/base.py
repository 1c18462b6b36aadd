"""The one interface every detection source implements, and what a source may use.

A source reads facts through a `Probe` (files below the host root, programs, WMI queries, NVML)
so that tests can point it at recordings from real machines. It fills a `SourceResult`; the
registry (`obt.agent.sources`) runs every source that applies, turns an exception into
'source: reason' in `HardwareStatus.errors`, and keeps the rest of the report.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Protocol

from obt.core.models import (
    CpuInfo,
    GpuInfo,
    HardwareStatus,
    MemoryInfo,
    NpuInfo,
    OllamaStatus,
    OsInfo,
)


class CommandError(RuntimeError):
    """A program could not be run or failed; the message names the program."""


CommandRunner = Callable[[list[str]], Awaitable[str]]
WindowsQuery = Callable[[str], Awaitable[list[dict[str, Any]]]]

# PowerShell for each Windows query; every one prints JSON (a row or a list of rows). This is the
# fallback: WindowsQueries (sources/windows_queries.py) asks WMI and the registry first.
WINDOWS_QUERIES: dict[str, str] = {
    "Win32_Processor": "Get-CimInstance Win32_Processor | Select-Object Name,Manufacturer,"
    "NumberOfCores,NumberOfLogicalProcessors,MaxClockSpeed,Architecture",
    "Win32_ComputerSystem": "Get-CimInstance Win32_ComputerSystem | Select-Object "
    "TotalPhysicalMemory,NumberOfProcessors,Manufacturer,Model",
    "Win32_OperatingSystem": "Get-CimInstance Win32_OperatingSystem | Select-Object Caption,"
    "Version,BuildNumber,OSArchitecture,CSName",
    "Win32_VideoController": "Get-CimInstance Win32_VideoController | Select-Object Name,"
    "AdapterCompatibility,AdapterRAM,DriverVersion,PNPDeviceID,VideoProcessor",
    # AdapterRAM is a uint32 and stops at 4 GiB; the display driver's registry key holds the
    # 64-bit size (HardwareInformation.qwMemorySize), matched on DriverDesc.
    "DisplayAdapterMemory": "Get-ItemProperty 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Class\\"
    "{4d36e968-e325-11ce-bfc1-08002be10318}\\0*' -ErrorAction SilentlyContinue | Select-Object "
    "DriverDesc,MatchingDeviceId,'HardwareInformation.qwMemorySize'",
    "MachineGuid": "Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Cryptography' | "
    "Select-Object MachineGuid",
    # NPUs: the ComputeAccelerator device setup class, with each device's driver version.
    "ComputeAccelerators": "Get-PnpDevice -Class ComputeAccelerator -PresentOnly "
    "-ErrorAction SilentlyContinue | ForEach-Object { [pscustomobject]@{ Name = $_.FriendlyName; "
    "Manufacturer = $_.Manufacturer; PNPDeviceID = $_.InstanceId; Status = $_.Status; "
    "DriverVersion = (Get-PnpDeviceProperty -InstanceId $_.InstanceId "
    "-KeyName DEVPKEY_Device_DriverVersion).Data } }",
}


async def run_command(args: list[str], timeout: float = 20.0) -> str:
    """Run a program and return its stdout; a missing program or a failure is a CommandError."""
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise CommandError(f"{args[0]} not found") from exc
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError as exc:
        process.kill()
        await process.wait()
        raise CommandError(f"{args[0]} did not finish within {timeout:g}s") from exc
    if process.returncode != 0 and not stdout.strip():
        message = stderr.decode(errors="replace").strip().splitlines()
        tail = message[-1] if message else f"exit status {process.returncode}"
        raise CommandError(f"{args[0]} failed: {tail}")
    return stdout.decode(errors="replace")


async def windows_query(name: str) -> list[dict[str, Any]]:
    """Rows of one query from WINDOWS_QUERIES, through PowerShell's ConvertTo-Json."""
    script = WINDOWS_QUERIES[name] + " | ConvertTo-Json -Compress"
    out = await run_command(["powershell", "-NoProfile", "-NonInteractive", "-Command", script])
    return json_rows(out)


def json_rows(text: str) -> list[dict[str, Any]]:
    """ConvertTo-Json prints one object for one row and a list for several."""
    if not text.strip():
        return []
    data = json.loads(text)
    return [data] if isinstance(data, dict) else list(data)


def default_windows_queries() -> WindowsQuery:
    from obt.agent.sources.windows_queries import WindowsQueries  # imports this module

    return WindowsQueries()


def import_pynvml() -> ModuleType:
    return importlib.import_module("pynvml")


async def py_cpuinfo() -> dict[str, Any]:
    """py-cpuinfo's get_cpu_info(): on Windows its flags come from CPUID (WMI has none). It runs
    a child Python of its own, so it is called off the event loop and its answer memoised."""
    import cpuinfo

    info: dict[str, Any] = await asyncio.to_thread(cpuinfo.get_cpu_info)
    return info


def import_amdsmi() -> ModuleType:
    """AMD SMI's Python package (shipped with ROCm >= 6, or `pip install amdsmi`)."""
    return importlib.import_module("amdsmi")


@dataclass
class Probe:
    """Everything a source may look at. Tests build one over a recorded machine."""

    host_root: Path = Path("/")
    system: str = field(default_factory=platform.system)
    run: CommandRunner = run_command
    # WMI and the registry first, PowerShell as the fallback (sources/windows_queries.py).
    windows: WindowsQuery = field(default_factory=lambda: default_windows_queries())
    load_nvml: Callable[[], ModuleType] = import_pynvml
    load_amdsmi: Callable[[], ModuleType] = import_amdsmi
    cpu_info: Callable[[], Awaitable[dict[str, Any]]] = py_cpuinfo
    ollama_url: str = "http://127.0.0.1:11434"
    report_available_memory: bool = False
    request_timeout: float = 5.0
    # Outputs of slow programs shared by several sources, kept for `memo_seconds`.
    memo_seconds: float = 300.0
    memo: dict[str, tuple[float, Any]] = field(default_factory=dict)

    async def cached(self, key: str, factory: Callable[[], Awaitable[Any]]) -> Any:
        """The value of `factory()`, computed at most once per `memo_seconds`."""
        now = time.monotonic()
        hit = self.memo.get(key)
        if hit is not None and now - hit[0] < self.memo_seconds:
            return hit[1]
        value = await factory()
        self.memo[key] = (now, value)
        return value

    def path(self, absolute: str) -> Path:
        """A host path such as '/proc/cpuinfo' below the host root."""
        return self.host_root / absolute.lstrip("/")

    def read(self, absolute: str) -> str:
        return self.path(absolute).read_text(errors="replace")

    def read_optional(self, absolute: str) -> str | None:
        """The file's stripped text, or None when it does not exist."""
        try:
            return self.read(absolute).strip()
        except FileNotFoundError:
            return None


@dataclass
class Sample:
    """One Prometheus sample for /metrics (volatile figures never go into the object)."""

    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class SourceResult:
    """What one source found. Fields left None were not this source's to fill."""

    cpu: CpuInfo | None = None
    memory: MemoryInfo | None = None
    os: OsInfo | None = None
    gpus: list[GpuInfo] = field(default_factory=list)
    npus: list[NpuInfo] = field(default_factory=list)
    ollama: OllamaStatus | None = None
    errors: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        """Record a partial failure; the source goes on with what it can still read."""
        if reason not in self.errors:
            self.errors.append(reason)

    def sample(self, metric: str, value: float | None, /, **labels: str) -> None:
        if value is not None:
            self.samples.append(Sample(metric, float(value), labels))


class Source(Protocol):
    """A detection source: one module per source, listed once in the registry."""

    name: ClassVar[str]

    def applies(self, probe: Probe) -> bool:
        """Whether this source can say anything on this platform (Linux, Darwin, Windows)."""
        ...

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        """Fill `result`. `found` is what earlier sources found (to skip devices they reported)."""
        ...
