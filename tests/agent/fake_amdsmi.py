"""A stand-in for AMD SMI's Python package `amdsmi`, answering from a recorded amdsmi.json.

Only the calls the amd source makes exist. A call whose section the recording lacks raises
`AmdSmiLibraryException`, as the real library does for a query it cannot serve.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Error code:\n\t{code} | {message}")
        self.err_code = code


AMDSMI_STATUS_NOT_SUPPORTED = 2


class AmdSmiMemoryType(enum.IntEnum):
    VRAM = 0
    VIS_VRAM = 1
    GTT = 2


class FakeAmdSmi:
    AmdSmiMemoryType = AmdSmiMemoryType
    AmdSmiLibraryException = AmdSmiLibraryException

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.initialised = 0
        self.shut_down = 0

    @classmethod
    def from_file(cls, path: Path) -> FakeAmdSmi:
        return cls(json.loads(path.read_text()))

    def _section(self, handle: int, key: str) -> Any:
        gpu = self.recording["gpus"][handle]
        if key not in gpu:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED, "AMDSMI_STATUS_NOT_SUPPORTED")
        return gpu[key]

    def amdsmi_init(self, flags: int = 0) -> None:
        self.initialised += 1

    def amdsmi_shut_down(self) -> None:
        self.shut_down += 1

    def amdsmi_get_processor_handles(self) -> list[int]:
        return list(range(len(self.recording["gpus"])))

    def amdsmi_get_gpu_device_bdf(self, handle: int) -> str:
        return str(self._section(handle, "bdf"))

    def amdsmi_get_gpu_device_uuid(self, handle: int) -> str:
        return str(self._section(handle, "uuid"))

    def amdsmi_get_gpu_asic_info(self, handle: int) -> dict[str, Any]:
        return dict(self._section(handle, "asic"))

    def amdsmi_get_gpu_driver_info(self, handle: int) -> dict[str, Any]:
        return dict(self._section(handle, "driver"))

    def amdsmi_get_gpu_board_info(self, handle: int) -> dict[str, Any]:
        return dict(self._section(handle, "board"))

    def amdsmi_get_gpu_vram_info(self, handle: int) -> dict[str, Any]:
        return dict(self._section(handle, "vram"))

    def amdsmi_get_gpu_memory_total(self, handle: int, memory_type: AmdSmiMemoryType) -> int:
        vram = self._section(handle, "vram")  # vram_size is in MB, as amdsmi reports it
        return int(vram["vram_size"]) * 1024 * 1024
