"""Operating system: family, release, distribution, kernel, machine id and host name."""

from __future__ import annotations

import platform
from typing import ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.core.models import HardwareStatus, OsInfo


class OsSource:
    name: ClassVar[str] = "os"

    def applies(self, probe: Probe) -> bool:
        return True

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        if probe.system == "Linux":
            result.os = self._linux(probe)
        elif probe.system == "Darwin":
            result.os = await self._darwin(probe)
        elif probe.system == "Windows":
            result.os = await self._windows(probe)

    def _linux(self, probe: Probe) -> OsInfo:
        import distro

        # root_dir makes distro read the host's /etc/os-release, not the container's.
        release = distro.LinuxDistribution(
            root_dir=str(probe.host_root), include_lsb=False, include_uname=False
        )
        kernel = probe.read_optional("/proc/sys/kernel/osrelease")
        return OsInfo(
            system="Linux",
            release=kernel,
            distro=release.name() or None,
            distro_version=release.version() or None,
            kernel=kernel,
            machine_id=probe.read_optional("/etc/machine-id") or None,
            hostname=probe.read_optional("/proc/sys/kernel/hostname") or None,
        )

    async def _darwin(self, probe: Probe) -> OsInfo:
        from obt.agent.sources.apple import system_profiler

        overview = (await system_profiler(probe)).get("SPSoftwareDataType", [{}])[0]
        hardware = (await system_profiler(probe)).get("SPHardwareDataType", [{}])[0]
        # os_version reads like 'macOS 14.4.1 (23E224)'.
        words = str(overview.get("os_version", "")).split()
        kernel = str(overview.get("kernel_version", "")).replace("Darwin ", "") or None
        return OsInfo(
            system="Darwin",
            release=kernel,
            distro=words[0] if words else "macOS",
            distro_version=words[1] if len(words) > 1 else None,
            kernel=kernel,
            machine_id=hardware.get("platform_UUID"),
            hostname=overview.get("local_host_name") or platform.node() or None,
        )

    async def _windows(self, probe: Probe) -> OsInfo:
        rows = await probe.windows("Win32_OperatingSystem")
        row = rows[0] if rows else {}
        guid = await probe.windows("MachineGuid")
        caption = str(row.get("Caption") or "").replace("Microsoft ", "").strip()
        version = row.get("Version")
        return OsInfo(
            system="Windows",
            release=version,
            distro=caption or "Windows",
            distro_version=str(row.get("BuildNumber") or "") or None,
            kernel=version,
            machine_id=guid[0].get("MachineGuid") if guid else None,
            hostname=row.get("CSName"),
        )
