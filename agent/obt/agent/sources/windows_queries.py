"""Windows facts through WMI (the `wmi` package over pywin32) and the registry (`winreg`), with
PowerShell (`base.WINDOWS_QUERIES`) as the fallback where pywin32 is not installed or WMI fails.

Every query answers the same rows either way (a list of dicts with the PowerShell property
names), so the sources do not know which path answered. WMI is the primary path because it
needs no child process per query (PowerShell starts in about a second on a cold machine) and
reads the same CIM classes.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from obt.agent.sources.base import WindowsQuery, windows_query

log = logging.getLogger("obt.agent.sources.windows")

# query name -> (WMI class, properties, WQL condition or None)
WMI_QUERIES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "Win32_Processor": (
        "Win32_Processor",
        (
            "Name",
            "Manufacturer",
            "NumberOfCores",
            "NumberOfLogicalProcessors",
            "MaxClockSpeed",
            "Architecture",
        ),
        None,
    ),
    "Win32_ComputerSystem": (
        "Win32_ComputerSystem",
        ("TotalPhysicalMemory", "NumberOfProcessors", "Manufacturer", "Model"),
        None,
    ),
    "Win32_OperatingSystem": (
        "Win32_OperatingSystem",
        ("Caption", "Version", "BuildNumber", "OSArchitecture", "CSName"),
        None,
    ),
    "Win32_VideoController": (
        "Win32_VideoController",
        (
            "Name",
            "AdapterCompatibility",
            "AdapterRAM",
            "DriverVersion",
            "PNPDeviceID",
            "VideoProcessor",
        ),
        None,
    ),
    # NPUs: the ComputeAccelerator device setup class (MCDM drivers: Intel AI Boost, AMD
    # Ryzen AI, Qualcomm Hexagon); their driver versions are joined in from
    # Win32_PnPSignedDriver (see _compute_accelerators).
    "ComputeAccelerators": (
        "Win32_PnPEntity",
        ("Name", "Manufacturer", "PNPDeviceID", "Status"),
        "PNPClass = 'ComputeAccelerator'",
    ),
}
# WMI hands uint64 properties over COM as decimal strings.
UINT64_PROPERTIES = {"TotalPhysicalMemory"}

DISPLAY_CLASS_KEY = r"SYSTEM\CurrentControlSet\Control\Class\{4d36e968-e325-11ce-bfc1-08002be10318}"
DISPLAY_VALUES = ("DriverDesc", "MatchingDeviceId", "HardwareInformation.qwMemorySize")
CRYPTOGRAPHY_KEY = r"SOFTWARE\Microsoft\Cryptography"
WQL_SAFE = re.compile(r"^[A-Za-z0-9_ ='.]*$")


def import_wmi() -> ModuleType:
    """The `wmi` package (a pywin32 wrapper); the agent's `windows` extra installs both."""
    return importlib.import_module("wmi")


def import_winreg() -> ModuleType:
    return importlib.import_module("winreg")


def _value(row: Any, prop: str) -> Any:
    value = getattr(row, prop, None)
    if prop in UINT64_PROPERTIES and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def wql(wmi_class: str, props: tuple[str, ...], where: str | None) -> str:
    if where is not None and not WQL_SAFE.match(where):
        raise ValueError(f"unsafe WQL condition: {where!r}")
    return f"SELECT {', '.join(props)} FROM {wmi_class}" + (f" WHERE {where}" if where else "")


def wmi_rows(wmi: ModuleType, name: str) -> list[dict[str, Any]]:
    """Rows of one WMI_QUERIES entry through the `wmi` package."""
    wmi_class, props, where = WMI_QUERIES[name]
    connection = wmi.WMI()
    rows = [
        {p: _value(r, p) for p in props} for r in connection.query(wql(wmi_class, props, where))
    ]
    if name == "ComputeAccelerators" and rows:
        drivers = connection.query(
            wql(
                "Win32_PnPSignedDriver",
                ("DeviceID", "DriverVersion"),
                "DeviceClass = 'COMPUTEACCELERATOR'",
            )
        )
        versions = {str(d.DeviceID).upper(): d.DriverVersion for d in drivers}
        for row in rows:
            row["DriverVersion"] = versions.get(str(row["PNPDeviceID"]).upper())
    return rows


def registry_rows(winreg: ModuleType, name: str) -> list[dict[str, Any]]:
    """Rows of the registry queries (the display class keys, MachineGuid)."""
    hklm = winreg.HKEY_LOCAL_MACHINE
    if name == "MachineGuid":
        with winreg.OpenKey(hklm, CRYPTOGRAPHY_KEY) as key:
            return [{"MachineGuid": winreg.QueryValueEx(key, "MachineGuid")[0]}]
    if name != "DisplayAdapterMemory":
        raise KeyError(name)
    rows: list[dict[str, Any]] = []
    with winreg.OpenKey(hklm, DISPLAY_CLASS_KEY) as parent:
        index = 0
        while True:
            try:
                sub = winreg.EnumKey(parent, index)
            except OSError:
                break  # no more subkeys
            index += 1
            if not sub.isdigit():
                continue  # 'Configuration', 'Properties': not adapters
            row: dict[str, Any] = {}
            try:
                with winreg.OpenKey(parent, sub) as key:
                    for value in DISPLAY_VALUES:
                        try:
                            row[value] = winreg.QueryValueEx(key, value)[0]
                        except FileNotFoundError:
                            row[value] = None
            except PermissionError:
                continue
            rows.append(row)
    return rows


REGISTRY_QUERIES = {"DisplayAdapterMemory", "MachineGuid"}


def _com_rows(load_wmi: Callable[[], ModuleType], name: str) -> list[dict[str, Any]]:
    """WMI from a worker thread: COM must be initialised in each thread that uses it."""
    wmi = load_wmi()
    try:
        pythoncom: ModuleType | None = importlib.import_module("pythoncom")
    except ImportError:
        pythoncom = None  # a stand-in `wmi` (tests) needs no COM
    if pythoncom is not None:
        pythoncom.CoInitialize()
    try:
        return wmi_rows(wmi, name)
    finally:
        if pythoncom is not None:
            pythoncom.CoUninitialize()


@dataclass
class WindowsQueries:
    """`Probe.windows`: WMI and the registry first, PowerShell where they cannot answer."""

    load_wmi: Callable[[], ModuleType] = import_wmi
    load_winreg: Callable[[], ModuleType] = import_winreg
    powershell: WindowsQuery = windows_query
    # Why the primary path failed, once per query name (logged once, not every cycle).
    fallbacks: dict[str, str] = field(default_factory=dict)

    async def __call__(self, name: str) -> list[dict[str, Any]]:
        try:
            if name in REGISTRY_QUERIES:
                return await asyncio.to_thread(registry_rows, self.load_winreg(), name)
            return await asyncio.to_thread(_com_rows, self.load_wmi, name)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if self.fallbacks.get(name) != reason:
                log.info("%s through PowerShell: WMI/registry failed (%s)", name, reason)
            self.fallbacks[name] = reason
        return await self.powershell(name)
