"""One failing source never spoils the report: the rest stands and the failure is named."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from obt.agent.sources import default_sources, detect_all
from tests.agent.recorded import FIXTURES, recorded_probe


def copy_machine(name: str, tmp_path: Path) -> Path:
    """A recorded machine; GPU recordings get the Graviton's /proc and /etc so the test can show
    that CPU, memory and OS still come through."""
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    if not (target / "proc").exists():
        for part in ("proc", "etc"):
            shutil.copytree(FIXTURES / "aws-c7g-graviton3" / part, target / part)
    return target


async def test_ollama_down_is_a_fact_not_a_failure() -> None:
    probe = recorded_probe("aws-c7g-graviton3", ollama_url="http://127.0.0.1:9")
    d = await detect_all(probe, default_sources())
    assert d.ollama.reachable is False
    assert d.ollama.url == "http://127.0.0.1:9"
    assert "Cannot connect to host 127.0.0.1:9" in (d.ollama.error or "")
    assert d.hardware.cpu.model == "Neoverse-V1"  # the rest stands
    assert d.hardware.memory.total_bytes == 15908848 * 1024
    assert d.hardware.errors == []


async def test_ollama_answers(ollama) -> None:
    probe = recorded_probe("aws-c7g-graviton3", ollama_url=ollama.url)
    d = await detect_all(probe, default_sources())
    assert d.ollama.reachable is True and d.ollama.error is None
    assert d.ollama.version == "0.5.7"
    (model,) = d.ollama.models
    assert (model.name, model.digest, model.size) == ("llama3.1:8b", "46e0c10c039e", 4920753328)
    assert (model.family, model.parameter_size, model.quantization_level) == (
        "llama",
        "8.0B",
        "Q4_K_M",
    )
    assert model.modified_at is not None and model.modified_at.microsecond == 123456


async def test_nvml_missing_means_no_nvidia_gpus(caplog, tmp_path) -> None:
    caplog.set_level(logging.INFO, logger="obt.agent")
    machine = copy_machine("rx7900xt-desktop", tmp_path)
    probe = recorded_probe(machine)  # no nvml.json: the loader raises LibraryNotFound
    d = await detect_all(probe, default_sources())
    assert [g.vendor for g in d.hardware.gpus] == ["amd"]  # the rest stands
    assert d.hardware.cpu.model == "Neoverse-V1"
    assert d.hardware.errors == []
    assert "nvidia: NVML unavailable" in caplog.text
    assert "NVML Shared Library Not Found" in caplog.text


async def test_nvml_import_error_is_no_crash(caplog) -> None:
    caplog.set_level(logging.INFO, logger="obt.agent")

    def missing():
        raise ImportError("No module named 'pynvml'")

    probe = recorded_probe("aws-c7g-graviton3", load_nvml=missing)
    d = await detect_all(probe, default_sources())
    assert d.hardware.gpus == []
    assert d.hardware.cpu.model == "Neoverse-V1"
    assert "No module named 'pynvml'" in caplog.text


async def test_malformed_rocm_smi_output_falls_back_to_sysfs(tmp_path) -> None:
    machine = copy_machine("rx7900xt-desktop", tmp_path)
    (machine / "rocm-smi.json").write_text('{"card0": {"Card Series": "Radeon RX 7900 XT",')
    d = await detect_all(recorded_probe(machine), default_sources())
    (gpu,) = d.hardware.gpus
    assert gpu.name == "AMD Radeon RX 7900 XT"  # from the PCI id + revision in sysfs
    assert gpu.memory_total_bytes == 21458059264
    assert gpu.compute_capability == "gfx1100"
    (error,) = d.hardware.errors
    assert error.startswith("amd: rocm-smi output is not valid JSON")
    assert error.endswith("used sysfs only")
    assert d.hardware.cpu.model == "Neoverse-V1"
    assert d.hardware.os.distro == "Amazon Linux"


async def test_unreadable_sysfs_file_is_named_and_the_gpu_still_reported(tmp_path) -> None:
    machine = copy_machine("rx7900xt-desktop", tmp_path)
    (machine / "rocm-smi.json").unlink()
    vram = machine / "sys/class/drm/card0/device/mem_info_vram_total"
    vram.unlink()
    vram.mkdir()  # reading it fails with EISDIR (tests run as root, so chmod 000 would not)
    d = await detect_all(recorded_probe(machine), default_sources())
    (gpu,) = d.hardware.gpus
    assert (gpu.name, gpu.pci_bus_id, gpu.memory_total_bytes) == (
        "AMD Radeon RX 7900 XT",
        "0000:0b:00.0",
        None,
    )
    assert d.hardware.errors == [
        "amd: cannot read /sys/class/drm/card0/device/mem_info_vram_total: Is a directory"
    ]
    assert d.hardware.cpu.model == "Neoverse-V1"
    assert d.hardware.memory.total_bytes == 15908848 * 1024


async def test_a_source_that_fails_outright_is_named_and_others_report(tmp_path) -> None:
    machine = copy_machine("aws-c7g-graviton3", tmp_path)
    (machine / "proc/cpuinfo").write_text("garbage without processors\n")
    d = await detect_all(recorded_probe(machine), default_sources())
    assert d.hardware.errors == ["cpu: /proc/cpuinfo lists no processor"]
    assert d.hardware.cpu.model is None
    assert d.hardware.memory.total_bytes == 15908848 * 1024
    assert d.hardware.os.distro == "Amazon Linux"
