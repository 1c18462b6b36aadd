"""A stand-in for nvidia-ml-py's `pynvml`, answering from a recorded nvml.json."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

NVML_TEMPERATURE_GPU = 0


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    def __str__(self) -> str:
        return "Not Supported"


class NVMLError_LibraryNotFound(NVMLError):
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


class NVMLError_FunctionNotFound(NVMLError):
    """What pynvml raises for nvmlDeviceGetMemoryInfo_v2 on a driver older than 510."""

    def __str__(self) -> str:
        return "Function Not Found"


class NVMLError_ArgumentVersionMismatch(NVMLError):
    def __str__(self) -> str:
        return "Argument Version Mismatch"


# pynvml's version word of c_nvmlMemory_v2_t (sizeof | 2 << 24).
nvmlMemory_v2 = 0x02000028


class FakeNvml:
    """Exposes the subset of pynvml the nvidia source calls."""

    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    nvmlMemory_v2 = nvmlMemory_v2
    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    NVMLError_ArgumentVersionMismatch = NVMLError_ArgumentVersionMismatch

    def __init__(self, recording: dict[str, Any], *, memory_v2: bool = True) -> None:
        self.recording = recording
        self.initialised = 0
        # False: a driver without nvmlDeviceGetMemoryInfo_v2 (before 510), as pynvml reports it.
        self.memory_v2 = memory_v2
        self.memory_calls: list[int | None] = []  # the `version` of each memory call

    @classmethod
    def from_file(cls, path: Path) -> FakeNvml:
        return cls(json.loads(path.read_text()))

    def _device(self, handle: int) -> dict[str, Any]:
        return self.recording["devices"][handle]

    def nvmlInit(self) -> None:
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.recording["driverVersion"]

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.recording["cudaDriverVersion"]

    def nvmlDeviceGetCount(self) -> int:
        return len(self.recording["devices"])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._device(handle)["name"]

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._device(handle)["uuid"]

    def nvmlDeviceGetPciInfo(self, handle: int) -> SimpleNamespace:
        d = self._device(handle)
        return SimpleNamespace(busId=d["busId"], pciDeviceId=d["pciDeviceId"])

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> SimpleNamespace:
        """v1 (no version): total, free and used = total - free, reserved memory included.
        v2 (version=nvmlMemory_v2): also `reserved`, and `used` without it, as nvidia-smi -q's
        FB Memory Usage shows them (each fixture records Total, Reserved, Used and Free)."""
        self.memory_calls.append(version)
        d = self._device(handle)
        free = d.get("memoryFree", d["memoryTotal"] - d["memoryUsed"])
        if version is None:
            return SimpleNamespace(total=d["memoryTotal"], free=free, used=d["memoryTotal"] - free)
        if not self.memory_v2 or "memoryReserved" not in d:
            raise NVMLError_FunctionNotFound()
        if version != nvmlMemory_v2:
            raise NVMLError_ArgumentVersionMismatch()
        return SimpleNamespace(
            version=version,
            total=d["memoryTotal"],
            reserved=d["memoryReserved"],
            free=free,
            used=d["memoryUsed"],
        )

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        major, minor = self._device(handle)["computeCapability"]
        return major, minor

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle: int) -> int:
        return self._device(handle)["maxPcieGeneration"]

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: int) -> int:
        return self._device(handle)["maxPcieWidth"]

    def nvmlDeviceGetMigMode(self, handle: int) -> tuple[int, int]:
        mode = self._device(handle)["migMode"]
        if mode is None:
            raise NVMLError_NotSupported()
        return mode[0], mode[1]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=self._device(handle)["utilization"], memory=0)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return self._device(handle)["temperature"]

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._device(handle)["powerUsageMw"]
