"""NVIDIA GPUs through NVML (nvidia-ml-py's `pynvml`).

NVML that cannot be loaded or initialised means "no NVIDIA GPUs here": the reason is logged at
debug level and nothing is reported as an error, because most machines have no NVIDIA driver.
A GPU whose details fail to read is reported with what was read, and the failure is named.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any, ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.agent.sources.features import nvidia_architecture, nvidia_features
from obt.core.models import GpuInfo, HardwareStatus

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# What pynvml raises where the driver has no v2 memory info: the function is missing (drivers
# before 510), the call is not supported, or the driver wants another struct version.
_NO_MEMORY_V2 = (
    "NVMLError_FunctionNotFound",
    "NVMLError_NotSupported",
    "NVMLError_ArgumentVersionMismatch",
)


class NvidiaSource:
    name: ClassVar[str] = "nvidia"

    def __init__(self) -> None:
        self._nvml: ModuleType | None = None
        self._memory_v2: bool | None = None  # unknown until the first call

    def memory_info(self, nvml: ModuleType, handle: Any) -> Any:
        """NVML's v2 memory info where the driver offers it: its `used` excludes the memory the
        driver reserves (nvidia-smi's FB Memory Usage "Used"); v1's `used` is total - free,
        reserved included (hundreds of MiB on an idle GPU). v1 where v2 is missing."""
        version = getattr(nvml, "nvmlMemory_v2", None)
        if version is not None and self._memory_v2 is not False:
            errors = tuple(e for e in (getattr(nvml, n, None) for n in _NO_MEMORY_V2) if e)
            try:
                info = nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
            except errors as exc:
                log.info("nvidia: no v2 memory info (%s); reading v1 (used includes reserved)", exc)
                self._memory_v2 = False
            else:
                self._memory_v2 = True
                return info
        return nvml.nvmlDeviceGetMemoryInfo(handle)

    def applies(self, probe: Probe) -> bool:
        return probe.system in ("Linux", "Windows")

    def _init(self, probe: Probe) -> ModuleType | None:
        # NVML stays initialised for the life of the agent: nvmlInit costs tens of milliseconds.
        if self._nvml is not None:
            return self._nvml
        try:
            nvml = probe.load_nvml()
            nvml.nvmlInit()
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded ...
            log.info("nvidia: NVML unavailable, reporting no NVIDIA GPUs: %s", exc)
            return None
        self._nvml = nvml
        return nvml

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        nvml = self._init(probe)
        if nvml is None:
            return
        driver = cuda = None
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
            version = int(nvml.nvmlSystemGetCudaDriverVersion())
            cuda = f"CUDA {version // 1000}.{(version % 1000) // 10}"
        except Exception as exc:
            result.fail(f"driver version: {exc}")
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            gpu = GpuInfo(
                index=index,
                vendor="nvidia",
                name=_text(nvml.nvmlDeviceGetName(handle)),
                driver_version=driver,
                compute_api=cuda,
            )
            self._details(nvml, handle, gpu, result)
            self._metrics(nvml, handle, gpu, result)
            result.gpus.append(gpu)

    def _details(self, nvml: ModuleType, handle: Any, gpu: GpuInfo, result: SourceResult) -> None:
        def attempt(what: str, fn: Any) -> None:
            try:
                fn()
            except Exception as exc:
                result.fail(f"GPU {gpu.index} {what}: {exc}")

        def uuid() -> None:
            gpu.uuid = _text(nvml.nvmlDeviceGetUUID(handle))

        def pci() -> None:
            info = nvml.nvmlDeviceGetPciInfo(handle)
            bus = _text(info.busId)
            # NVML pads the domain to 8 digits ('00000000:18:00.0'); lspci and sysfs use 4.
            gpu.pci_bus_id = bus[-12:].lower() if len(bus) > 12 else bus.lower()
            device = int(info.pciDeviceId)
            gpu.pci_device_id = f"{device & 0xFFFF:04x}:{device >> 16:04x}"

        def memory() -> None:
            gpu.memory_total_bytes = int(self.memory_info(nvml, handle).total)

        def capability() -> None:
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpu.compute_capability = f"{major}.{minor}"
            gpu.architecture = nvidia_architecture(major, minor)
            gpu.features = nvidia_features(major, minor)

        def pcie() -> None:
            gpu.pcie_generation = int(nvml.nvmlDeviceGetMaxPcieLinkGeneration(handle))
            gpu.pcie_width = int(nvml.nvmlDeviceGetMaxPcieLinkWidth(handle))

        def mig() -> None:
            current, _pending = nvml.nvmlDeviceGetMigMode(handle)
            gpu.mig_mode = bool(current)

        def unified() -> None:
            gpu.unified_memory = False

        attempt("uuid", uuid)
        attempt("pci", pci)
        attempt("memory", memory)
        attempt("compute capability", capability)
        attempt("pcie", pcie)
        unified()
        try:
            mig()
        except Exception as exc:
            # Consumer GPUs answer NVML_ERROR_NOT_SUPPORTED: no MIG there, which is no error.
            if "Not Supported" not in str(exc):
                result.fail(f"GPU {gpu.index} mig: {exc}")
            gpu.mig_mode = None

    def _metrics(self, nvml: ModuleType, handle: Any, gpu: GpuInfo, result: SourceResult) -> None:
        """Volatile figures: /metrics only."""
        labels = {"gpu": str(gpu.index), "vendor": "nvidia", "name": gpu.name}
        try:
            memory = self.memory_info(nvml, handle)
            result.sample("obt_gpu_memory_used_bytes", memory.used, **labels)
            result.sample("obt_gpu_memory_total_bytes", memory.total, **labels)
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
            result.sample("obt_gpu_utilization_ratio", rates.gpu / 100, **labels)
            temperature = nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
            result.sample("obt_gpu_temperature_celsius", temperature, **labels)
            result.sample(
                "obt_gpu_power_watts", nvml.nvmlDeviceGetPowerUsage(handle) / 1000, **labels
            )
        except Exception as exc:
            log.debug("nvidia: GPU %d metrics: %s", gpu.index, exc)
