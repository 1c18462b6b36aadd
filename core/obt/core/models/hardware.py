"""What the agent found on the machine: CPU, memory, operating system, GPUs and NPUs.

Only slow-changing facts live here. Figures that move every second (utilization, temperature,
power, free memory) are exported on the agent's Prometheus `/metrics`; where they appear in the
object at all they are coarse (see docs/agent.md), so an idle node causes no writes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from obt.core.models.base import ContractModel

GpuVendor = Literal["nvidia", "amd", "intel", "apple", "microsoft", "other"]
NpuVendor = Literal["intel", "amd", "apple", "qualcomm", "movidius", "rockchip", "other"]
NpuBus = Literal["pci", "usb", "platform"]


class CpuInfo(ContractModel):
    """Central processor as the operating system reports it."""

    model: str | None = Field(
        None, description="CPU model name, e.g. 'AMD EPYC 9654 96-Core Processor'."
    )
    vendor: str | None = Field(
        None, description="CPU vendor id, e.g. 'GenuineIntel', 'AuthenticAMD', 'Apple', 'ARM'."
    )
    arch: str | None = Field(
        None, description="Instruction set architecture, e.g. 'x86_64', 'arm64'."
    )
    physical_cores: int | None = Field(None, ge=0, description="Physical cores across all sockets.")
    logical_cores: int | None = Field(None, ge=0, description="Logical CPUs (hardware threads).")
    sockets: int | None = Field(None, ge=0, description="CPU sockets, where the platform tells.")
    max_frequency_mhz: int | None = Field(
        None, ge=0, description="Highest rated core frequency in MHz."
    )
    flags: list[str] = Field(
        default_factory=list,
        description="Instruction-set features that matter for inference (avx, avx2, avx512f, "
        "avx512_vnni, amx_tile, f16c, fma, neon, sve, ...), sorted.",
    )


class MemoryInfo(ContractModel):
    """System memory."""

    total_bytes: int | None = Field(None, ge=0, description="Physical memory in bytes.")
    available_bytes: int | None = Field(
        None,
        ge=0,
        description="Memory available to new processes, rounded down to whole GiB so that it "
        "changes rarely (exact figure on the agent's /metrics).",
    )
    swap_total_bytes: int | None = Field(None, ge=0, description="Swap space in bytes.")


class OsInfo(ContractModel):
    """Operating system and host identity."""

    system: str | None = Field(
        None, description="Operating system family: Linux, Darwin or Windows."
    )
    release: str | None = Field(None, description="Kernel or OS release string.")
    distro: str | None = Field(
        None, description="Distribution or product name, e.g. 'Ubuntu', 'macOS', 'Windows 11 Pro'."
    )
    distro_version: str | None = Field(
        None, description="Distribution version, e.g. '22.04', '15.1'."
    )
    kernel: str | None = Field(None, description="Kernel version.")
    machine_id: str | None = Field(
        None,
        description="Stable machine id (/etc/machine-id, IOPlatformUUID or MachineGuid) where readable.",
    )
    hostname: str | None = Field(None, description="Host name as the machine knows itself.")


class GpuFeatures(ContractModel):
    """Support flags derived from the GPU architecture (not measured)."""

    tensor_cores: bool | None = Field(
        None,
        description="Matrix units usable for inference (NVIDIA tensor cores, AMD matrix cores, Intel XMX).",
    )
    fp16: bool | None = Field(None, description="Fast half precision.")
    bf16: bool | None = Field(None, description="bfloat16 support.")
    int8: bool | None = Field(None, description="Fast int8 dot products.")


class GpuInfo(ContractModel):
    """One GPU as its driver reports it."""

    index: int = Field(
        ..., ge=0, description="Index of the GPU on this machine, as its driver numbers them."
    )
    vendor: GpuVendor = Field(..., description="GPU vendor.")
    name: str = Field(..., description="Marketing name, e.g. 'NVIDIA H100 80GB HBM3'.")
    uuid: str | None = Field(
        None, description="Driver-reported unique id (NVIDIA GPU-..., AMD unique id)."
    )
    pci_bus_id: str | None = Field(None, description="PCI address, e.g. '0000:17:00.0'.")
    pci_device_id: str | None = Field(None, description="PCI vendor:device id, e.g. '10de:2330'.")
    memory_total_bytes: int | None = Field(
        None,
        ge=0,
        description="Dedicated memory (VRAM) in bytes; for Apple silicon the unified memory the GPU may use.",
    )
    unified_memory: bool | None = Field(
        None,
        description="True where GPU and CPU share memory (Apple silicon, most integrated GPUs).",
    )
    driver_version: str | None = Field(None, description="Kernel driver version.")
    compute_api: str | None = Field(
        None, description="Compute stack and version, e.g. 'CUDA 12.4', 'ROCm 6.1', 'Metal 3'."
    )
    compute_capability: str | None = Field(
        None,
        description="NVIDIA compute capability (e.g. '9.0') or AMD gfx target (e.g. 'gfx942').",
    )
    architecture: str | None = Field(
        None, description="Architecture name, e.g. 'Hopper', 'CDNA 3', 'RDNA 3'."
    )
    cores: int | None = Field(
        None,
        ge=0,
        description="GPU cores where the vendor reports them (Apple GPU cores, NVIDIA SMs).",
    )
    pcie_generation: int | None = Field(None, ge=0, description="Maximum PCIe link generation.")
    pcie_width: int | None = Field(None, ge=0, description="Maximum PCIe link width (lanes).")
    mig_mode: bool | None = Field(None, description="NVIDIA Multi-Instance GPU mode enabled.")
    features: GpuFeatures = Field(
        default_factory=GpuFeatures, description="Support flags derived from the architecture."
    )


class NpuInfo(ContractModel):
    """One neural processing unit."""

    vendor: NpuVendor = Field(..., description="NPU vendor.")
    name: str = Field(
        ...,
        description="Device name, e.g. 'Intel NPU (Meteor Lake)', 'AMD XDNA', 'Apple Neural Engine'.",
    )
    pci_device_id: str | None = Field(
        None, description="PCI vendor:device id where the NPU is a PCI device."
    )
    driver: str | None = Field(
        None, description="Kernel driver bound to the device, e.g. 'intel_vpu', 'amdxdna'."
    )
    driver_version: str | None = Field(
        None,
        description="Driver version: the Linux module's version where it declares one, the "
        "Windows driver package version (e.g. '32.0.100.5540').",
    )
    firmware_version: str | None = Field(
        None,
        description="Firmware version where the driver reports it (AMD XDNA's sysfs fw_version).",
    )
    bus: NpuBus | None = Field(
        None, description="How the NPU is attached: pci, usb, or platform (part of the SoC)."
    )
    usb_device_id: str | None = Field(
        None, description="USB vendor:product id where the NPU is a USB device, e.g. '03e7:2485'."
    )
    device_path: str | None = Field(
        None,
        description="Device node that programs open, e.g. '/dev/accel/accel0', '/dev/fastrpc-cdsp'.",
    )
    cores: int | None = Field(
        None, ge=0, description="Cores, where reported (Apple Neural Engine cores)."
    )
    tops: float | None = Field(None, ge=0, description="Vendor-rated INT8 TOPS, where known.")


class HardwareStatus(ContractModel):
    """Hardware facts written by the agent."""

    cpu: CpuInfo = Field(default_factory=CpuInfo, description="Central processor.")
    memory: MemoryInfo = Field(default_factory=MemoryInfo, description="System memory.")
    os: OsInfo = Field(default_factory=OsInfo, description="Operating system.")
    gpus: list[GpuInfo] = Field(default_factory=list, description="GPUs, ordered by index.")
    npus: list[NpuInfo] = Field(default_factory=list, description="Neural processing units.")
    errors: list[str] = Field(
        default_factory=list,
        description="Detection sources that failed, each as 'source: reason'; the rest of the report stands.",
    )
