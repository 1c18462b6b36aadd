"""Each recorded machine parses to the values known for it (see each fixture's SOURCE.md)."""

from __future__ import annotations

import pytest

from obt.agent.detect import telemetry_from_samples
from obt.agent.sources import default_sources, detect_all
from obt.core.models import GpuFeatures
from obt.core.report import AgentReport
from tests.agent.recorded import recorded_probe

GIB = 1024**3
MIB = 1024**2


async def detect(machine: str, system: str = "Linux", only: set[str] | None = None):
    """Run the sources (only those named, for fixtures that recorded one device family)."""
    sources = [s for s in default_sources() if only is None or s.name in only]
    return await detect_all(recorded_probe(machine, system), sources)


async def test_hgx_h100_eight_gpus() -> None:
    d = await detect("hgx-h100x8-thamada", only={"nvidia", "amd", "pci"})
    gpus = d.hardware.gpus
    assert [g.index for g in gpus] == list(range(8))
    assert {g.name for g in gpus} == {"NVIDIA H100 80GB HBM3"}
    assert [g.pci_bus_id for g in gpus] == [
        "0000:18:00.0",
        "0000:2a:00.0",
        "0000:3a:00.0",
        "0000:5d:00.0",
        "0000:9a:00.0",
        "0000:ab:00.0",
        "0000:ba:00.0",
        "0000:db:00.0",
    ]
    assert [g.uuid for g in gpus] == [
        "GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1",
        "GPU-7c3cadbd-17e5-0913-f69b-c618122ea0cd",
        "GPU-2d50cdf6-dd67-9f2e-855e-0d4d6d395a2f",
        "GPU-d1838e76-90e6-4408-711d-aeeaa2e1fd14",
        "GPU-72be6e5d-3c1b-0d37-98ac-d3ef159f2589",
        "GPU-52378fbc-3124-3895-13b6-1dd179563e0f",
        "GPU-83a5aebb-b71c-c570-aa83-185e1233fe97",
        "GPU-33135771-a848-ece1-b61e-489e221d663c",
    ]
    for gpu in gpus:
        assert gpu.memory_total_bytes == 81559 * MIB
        assert gpu.pci_device_id == "10de:2330"  # Device Id 0x233010DE
        assert gpu.driver_version == "565.57.01"
        assert gpu.compute_api == "CUDA 12.7"
        assert gpu.compute_capability == "9.0"
        assert gpu.architecture == "Hopper"
        assert (gpu.pcie_generation, gpu.pcie_width, gpu.mig_mode) == (5, 16, False)
        assert gpu.features == GpuFeatures(tensor_cores=True, fp16=True, bf16=True, int8=True)
    assert d.hardware.errors == []
    report = AgentReport(hardware=d.hardware)
    assert report.summary().gpus == "8x H100 80GB"
    assert report.summary().vram == "0/637Gi"
    # Volatile figures go to /metrics, never into the object.
    power = [s.value for s in d.samples if s.name == "obt_gpu_power_watts"]
    assert power == [100.89, 82.81, 85.98, 85.48, 84.94, 85.27, 86.05, 75.09]
    temperature = [s.value for s in d.samples if s.name == "obt_gpu_temperature_celsius"]
    assert temperature == [30, 30, 31, 29, 28, 30, 29, 29]
    assert "100.89" not in report.model_dump_json()


async def test_rtx_4060ti_consumer_desktop() -> None:
    d = await detect("rtx4060ti-x2-desktop", only={"nvidia", "amd", "pci"})
    gpus = d.hardware.gpus
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 4060 Ti"] * 2
    assert [g.uuid for g in gpus] == [
        "GPU-5fd2f5bb-12a1-ad58-a590-2f48aa312d92",
        "GPU-064b552e-b923-6fed-6f91-386f97032a9d",
    ]
    assert [g.pci_bus_id for g in gpus] == ["0000:03:00.0", "0000:09:00.0"]
    for gpu in gpus:
        assert gpu.memory_total_bytes == 16380 * MIB
        assert gpu.pci_device_id == "10de:2803"  # Device Id 0x280310DE
        assert gpu.driver_version == "550.54.14"
        assert gpu.compute_api == "CUDA 12.4"
        assert gpu.compute_capability == "8.9"
        assert gpu.architecture == "Ada Lovelace"
        # The AD106 card's own link is Gen4 x8 (nvidia-smi 'Max: 8x'), not x16.
        assert (gpu.pcie_generation, gpu.pcie_width) == (4, 8)
        assert gpu.mig_mode is None  # NOT_SUPPORTED on a consumer GPU: not an error
        assert gpu.features == GpuFeatures(tensor_cores=True, fp16=True, bf16=True, int8=True)
    assert d.hardware.errors == []
    assert AgentReport(hardware=d.hardware).summary().gpus == "2x RTX 4060 Ti 16GB"
    power = [s.value for s in d.samples if s.name == "obt_gpu_power_watts"]
    assert power == [30.5, 34.51]
    # The heartbeat's live figures are the same samples, per GPU (nvidia-smi -q: idle, 32/35 C).
    telemetry = telemetry_from_samples(d.samples)
    assert [g.model_dump() for g in telemetry.gpus] == [
        {
            "index": 0,
            "utilization_percent": 0.0,
            "temperature_c": 32.0,
            "power_w": 30.5,
            "memory_used_bytes": 0,
        },
        {
            "index": 1,
            "utilization_percent": 0.0,
            "temperature_c": 35.0,
            "power_w": 34.5,
            "memory_used_bytes": 0,
        },
    ]


async def test_nvml_memory_v2_and_the_v1_fallback() -> None:
    """nvidia-smi -q of the H100 machine: FB Memory Total 81559, Reserved 454, Used 1, Free
    81106 MiB (fixtures/hgx-h100x8-thamada/SOURCE.md). NVML v2 reports Used without the reserved
    memory; a driver without v2 (before 510) answers FunctionNotFound and v1's used is
    total - free, reserved included."""
    from obt.agent.sources.nvidia import NvidiaSource
    from tests.agent.fake_pynvml import FakeNvml
    from tests.agent.recorded import FIXTURES

    def used(samples: list) -> list[float]:
        return [s.value for s in samples if s.name == "obt_gpu_memory_used_bytes"]

    async def run(nvml: FakeNvml):
        probe = recorded_probe("hgx-h100x8-thamada", load_nvml=lambda: nvml)
        return await detect_all(probe, [NvidiaSource()])

    v2 = FakeNvml.from_file(FIXTURES / "hgx-h100x8-thamada" / "nvml.json")
    d = await run(v2)
    assert used(d.samples) == [1 * MIB] * 8  # nvidia-smi's "Used: 1 MiB"
    assert [g.memory_total_bytes for g in d.hardware.gpus] == [81559 * MIB] * 8
    assert set(v2.memory_calls) == {v2.nvmlMemory_v2}  # v2 only, for details and metrics
    assert telemetry_from_samples(d.samples).gpus[0].memory_used_bytes == 1 * MIB

    v1 = FakeNvml(v2.recording, memory_v2=False)
    d = await run(v1)
    assert used(d.samples) == [(81559 - 81106) * MIB] * 8  # total - free: the reserved 454 too
    assert [g.memory_total_bytes for g in d.hardware.gpus] == [81559 * MIB] * 8
    assert d.hardware.errors == []  # a missing v2 is no error
    # One try of v2, then v1 for the life of the source.
    assert v1.memory_calls[0] == v1.nvmlMemory_v2 and set(v1.memory_calls[1:]) == {None}

    # The RTX 4060 Ti desktop (driver 550): Reserved 303, Used 0, Free 16075 MiB.
    d = await detect("rtx4060ti-x2-desktop", only={"nvidia"})
    assert used(d.samples) == [0, 0]


async def test_mi250x_instinct() -> None:
    d = await detect("mi250x-hpe", only={"nvidia", "amd", "pci"})
    (gpu,) = d.hardware.gpus
    assert gpu.vendor == "amd"
    assert gpu.name == "AMD Instinct MI250X"  # from Card Model 0x7408
    assert gpu.pci_device_id == "1002:7408"
    assert gpu.compute_capability == "gfx90a"  # rocm-smi printed 'gfx9010'
    assert gpu.architecture == "CDNA 2"
    assert gpu.features == GpuFeatures(tensor_cores=True, fp16=True, bf16=True, int8=True)
    # The recording has neither --showbus nor --showmeminfo, and no sysfs was recorded.
    assert (gpu.pci_bus_id, gpu.memory_total_bytes) == (None, None)
    assert d.hardware.errors == []


async def test_rx7900xt_radeon() -> None:
    d = await detect("rx7900xt-desktop", only={"nvidia", "amd", "pci"})
    (gpu,) = d.hardware.gpus
    assert gpu.name == "AMD Radeon RX 7900 XT"
    assert gpu.memory_total_bytes == 21458059264
    assert gpu.pci_bus_id == "0000:0b:00.0"
    assert gpu.pci_device_id == "1002:744c"
    assert gpu.compute_capability == "gfx1100"
    assert gpu.architecture == "RDNA 3"
    assert gpu.features == GpuFeatures(tensor_cores=True, fp16=True, bf16=True, int8=True)
    used = [s for s in d.samples if s.name == "obt_gpu_memory_used_bytes"]
    assert used[0].value == 27856896
    assert d.hardware.errors == []


async def test_rx7900xt_from_sysfs_alone_without_rocm_smi(tmp_path) -> None:
    import shutil

    from tests.agent.recorded import FIXTURES

    shutil.copytree(FIXTURES / "rx7900xt-desktop", tmp_path / "m")
    (tmp_path / "m" / "rocm-smi.json").unlink()
    amd = [s for s in default_sources() if s.name == "amd"]
    d = await detect_all(recorded_probe(tmp_path / "m"), amd)
    (gpu,) = d.hardware.gpus
    # The device id and revision 0xcc name the board; KFD's 110000 is gfx1100.
    assert (gpu.name, gpu.compute_capability) == ("AMD Radeon RX 7900 XT", "gfx1100")
    assert gpu.memory_total_bytes == 21458059264
    assert d.hardware.errors == []


async def test_macbook_pro_m5(monkeypatch: pytest.MonkeyPatch) -> None:
    # macOS `sysctl hw` does not list hw.machine: the agent falls back to the Python
    # platform.machine() of the Mac it runs on, which reports arm64 there.
    monkeypatch.setattr("obt.agent.sources.cpu.platform.machine", lambda: "arm64")
    d = await detect("macbook-pro-m5-mac17-2", system="Darwin")
    hw = d.hardware
    assert hw.cpu.model == "Apple M5"
    assert (hw.cpu.vendor, hw.cpu.arch) == ("Apple", "arm64")
    assert (hw.cpu.physical_cores, hw.cpu.logical_cores, hw.cpu.sockets) == (10, 10, 1)
    assert hw.cpu.max_frequency_mhz is None  # no hw.cpufrequency_max on Apple silicon
    assert hw.cpu.flags == ["bf16", "dotprod", "fp16", "i8mm", "neon", "sme"]
    assert hw.memory.total_bytes == 25769803776 == 24 * GIB
    (gpu,) = hw.gpus
    assert (gpu.vendor, gpu.name, gpu.cores) == ("apple", "Apple M5", 10)
    assert gpu.unified_memory is True
    assert gpu.memory_total_bytes == 24 * GIB  # SPHardwareDataType's "24 GB"
    assert (gpu.compute_api, gpu.architecture) == ("Metal 4", "Apple M5")
    (npu,) = hw.npus
    assert (npu.vendor, npu.name, npu.cores) == ("apple", "Apple Neural Engine (M5)", 16)
    assert npu.tops is None  # no Apple-rated figure in the table for the M5
    assert (hw.os.distro, hw.os.distro_version) == ("macOS", "26.4.1")
    assert hw.os.kernel is None  # kernel_version was not recorded
    # The publisher replaced the platform UUID before publishing.
    assert hw.os.machine_id == "00000000-0000-4000-8000-000000000001"
    assert hw.errors == []


async def test_windows_pc_vram_from_registry_not_capped_adapter_ram() -> None:
    d = await detect("windows-rtx4090-pc", system="Windows")
    hw = d.hardware
    (gpu,) = hw.gpus  # the Basic Render Driver is not a GPU
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.vendor == "nvidia"
    assert gpu.pci_device_id == "10de:2684"
    assert gpu.memory_total_bytes == 25757220864  # not AdapterRAM's 4293918720
    assert hw.cpu.model == "AMD Ryzen 9 7950X 16-Core Processor"
    assert (hw.cpu.physical_cores, hw.cpu.logical_cores, hw.cpu.arch) == (16, 32, "x86_64")
    assert hw.memory.total_bytes == 68447973376
    assert (hw.os.distro, hw.os.release) == ("Windows 11 Pro", "10.0.22631")
    assert hw.os.hostname == "GAMING-PC"
    # No py-cpuinfo output was recorded for this PC: no flags, and the gap is named.
    assert hw.cpu.flags == []
    assert hw.errors == [
        "cpu: py-cpuinfo gave no CPU flags: no py-cpuinfo recording for this machine"
    ]


async def test_intel_npu_laptop() -> None:
    d = await detect("redmibook14pro-2024-mtl-npu")
    hw = d.hardware
    assert hw.cpu.model == "Intel(R) Core(TM) Ultra 7 155H"
    assert (hw.cpu.physical_cores, hw.cpu.logical_cores, hw.cpu.sockets) == (16, 22, 1)
    assert hw.cpu.max_frequency_mhz == 4800
    assert hw.memory.total_bytes == 32007036 * 1024
    assert "avx_vnni" in hw.cpu.flags and "avx512f" not in hw.cpu.flags
    (npu,) = hw.npus
    assert (npu.vendor, npu.name, npu.driver) == ("intel", "Intel NPU (Meteor Lake)", "intel_vpu")
    assert (npu.pci_device_id, npu.tops) == ("8086:7d1d", 11.0)
    (gpu,) = hw.gpus
    assert (gpu.vendor, gpu.name, gpu.unified_memory) == ("intel", "Intel Arc Graphics", True)
    assert gpu.pci_bus_id == "0000:00:02.0"
    assert hw.errors == []


async def test_intel_npu_found_through_lspci_when_sysfs_is_not_visible(tmp_path) -> None:
    import shutil

    from tests.agent.recorded import FIXTURES

    src = FIXTURES / "redmibook14pro-2024-mtl-npu"
    shutil.copytree(src, tmp_path / "m", ignore=shutil.ignore_patterns("bus"))
    d = await detect_all(recorded_probe(tmp_path / "m"), default_sources())
    (npu,) = d.hardware.npus
    assert (npu.name, npu.pci_device_id, npu.driver) == (
        "Intel NPU (Meteor Lake)",
        "8086:7d1d",
        None,
    )
    assert [g.name for g in d.hardware.gpus] == ["Intel Arc Graphics"]


async def test_graviton3_cpu_only_arm_server() -> None:
    d = await detect("aws-c7g-graviton3")
    hw = d.hardware
    assert (hw.cpu.vendor, hw.cpu.model, hw.cpu.arch) == ("ARM", "Neoverse-V1", "arm64")
    assert (hw.cpu.physical_cores, hw.cpu.logical_cores, hw.cpu.sockets) == (8, 8, 1)
    assert hw.cpu.flags == ["dotprod", "fp16", "neon", "sve"]
    assert hw.memory.total_bytes == 15908848 * 1024
    assert hw.memory.available_bytes is None  # volatile: /metrics only by default
    assert hw.memory.swap_total_bytes == 0
    assert (hw.os.distro, hw.os.distro_version) == ("Amazon Linux", "2023")
    assert hw.os.kernel == "6.1.102-111.182.amzn2023.aarch64"
    assert hw.os.machine_id == "ec2a8f0c3d5e4b6f9a1b2c3d4e5f6a7b"
    assert hw.gpus == [] and hw.npus == []
    assert hw.errors == []
    available = [s for s in d.samples if s.name == "obt_memory_available_bytes"]
    assert available[0].value == 15104244 * 1024


async def test_available_memory_rounded_down_to_whole_gib_when_enabled() -> None:
    probe = recorded_probe("aws-c7g-graviton3", report_available_memory=True)
    d = await detect_all(probe, default_sources())
    assert d.hardware.memory.available_bytes == 14 * GIB  # 14.4 GiB -> 14 GiB


@pytest.mark.parametrize(
    ("value", "gfx"),
    [("gfx90a", "gfx90a"), ("gfx9010", "gfx90a"), ("90402", "gfx942"), ("gfx1151", "gfx1151")],
)
def test_gfx_normalization(value: str, gfx: str) -> None:
    from obt.agent.sources.features import normalize_gfx

    assert normalize_gfx(value) == gfx


async def test_mi350x_through_amdsmi() -> None:
    probe = recorded_probe("mi350x-oam-amdsmi")
    d = await detect_all(probe, [s for s in default_sources() if s.name == "amd"])
    (gpu,) = d.hardware.gpus
    assert (gpu.vendor, gpu.name) == ("amd", "AMD Instinct MI350X")
    assert gpu.pci_bus_id == "0000:05:00.0"
    assert gpu.pci_device_id == "1002:75a0"
    assert gpu.compute_capability == "gfx950"
    assert gpu.architecture == "CDNA 4"
    assert gpu.driver_version == "6.18.3"
    # The recording has no VRAM section and no UUID: unknown, and the failed calls are named.
    assert gpu.memory_total_bytes is None and gpu.uuid is None
    assert [e.split(" for GPU 0:")[0] for e in d.hardware.errors] == [
        "amd: amdsmi: amdsmi_get_gpu_memory_total",
        "amd: amdsmi: amdsmi_get_gpu_vram_info",  # the older call, tried next
        "amd: amdsmi: amdsmi_get_gpu_device_uuid",
    ]
    assert probe.calls == []  # amdsmi answered: rocm-smi was not run


async def test_amdsmi_that_fails_to_initialise_falls_back_to_rocm_smi() -> None:
    from tests.agent.fake_amdsmi import AMDSMI_STATUS_NOT_SUPPORTED, FakeAmdSmi
    from tests.agent.fake_amdsmi import AmdSmiLibraryException as Failure

    class NoDriver(FakeAmdSmi):
        def amdsmi_init(self, flags: int = 0) -> None:
            raise Failure(AMDSMI_STATUS_NOT_SUPPORTED, "AMDSMI_STATUS_DRIVER_NOT_LOADED")

    probe = recorded_probe("rx7900xt-desktop", load_amdsmi=lambda: NoDriver({"gpus": []}))
    d = await detect_all(probe, [s for s in default_sources() if s.name == "amd"])
    (gpu,) = d.hardware.gpus
    assert gpu.name == "AMD Radeon RX 7900 XT"  # from rocm-smi, over sysfs
    (error,) = d.hardware.errors
    assert error.startswith("amd: amdsmi_init failed (") and "DRIVER_NOT_LOADED" in error


async def test_windows_cpu_flags_come_from_py_cpuinfo() -> None:
    from obt.agent.sources.base import SourceResult
    from obt.agent.sources.cpu import CpuSource

    # get_cpu_info() of an i7-3770K under Windows (python.org 3.8.2), see the fixture's SOURCE.md.
    probe = recorded_probe("windows-i7-3770k-desktop", system="Windows")
    result = SourceResult()
    assert await CpuSource._windows_flags(probe, "x86_64", result) == ["avx", "f16c"]
    assert result.errors == []
