"""Support flags derived from an NVIDIA compute capability or an AMD gfx target.

Kept here, apart from the sources, because they are facts about architectures, not machines.
"""

from __future__ import annotations

import re

from obt.core.models import GpuFeatures

NVIDIA_ARCHITECTURES = [
    # (lowest compute capability, architecture), highest first
    ((12, 0), "Blackwell"),
    ((10, 0), "Blackwell"),
    ((9, 0), "Hopper"),
    ((8, 9), "Ada Lovelace"),
    ((8, 0), "Ampere"),
    ((7, 5), "Turing"),
    ((7, 0), "Volta"),
    ((6, 0), "Pascal"),
    ((5, 0), "Maxwell"),
    ((3, 0), "Kepler"),
]


def nvidia_architecture(major: int, minor: int) -> str | None:
    for lowest, name in NVIDIA_ARCHITECTURES:
        if (major, minor) >= lowest:
            return name
    return None


def nvidia_features(major: int, minor: int) -> GpuFeatures:
    cc = (major, minor)
    return GpuFeatures(
        tensor_cores=cc >= (7, 0),
        # Fast (full- or double-rate) FP16: sm_53, sm_60, sm_62 and everything from Volta on;
        # consumer Pascal (sm_61) runs FP16 at 1/64 rate.
        fp16=cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0),
        bf16=cc >= (8, 0),
        int8=cc >= (6, 1),  # dp4a
    )


def normalize_gfx(value: str) -> str | None:
    """'gfx90a' stays; rocm-smi's decimal form 'gfx9010' (major 9, minor 0, stepping 10) and a
    KFD gfx_target_version such as '90010' become 'gfx90a'."""
    value = value.strip().lower()
    match = re.fullmatch(r"gfx([0-9a-f]+)", value)
    digits = match.group(1) if match else value
    if not digits or not re.fullmatch(r"[0-9a-f]+", digits):
        return None
    if (
        match
        and len(digits) <= 4
        and not (len(digits) == 4 and digits.isdigit() and digits[0] == "9")
    ):
        return f"gfx{digits}"
    if digits.isdigit() and len(digits) >= 4:
        # Decimal major/minor/stepping packed as M(M)mmss (KFD) or M m ss (rocm-smi 'gfx9010').
        number = int(digits)
        if len(digits) >= 5:
            major, minor, stepping = number // 10000, (number // 100) % 100, number % 100
        else:
            major, minor, stepping = number // 1000, (number // 100) % 10, number % 100
        return f"gfx{major}{minor:x}{stepping:x}"
    return f"gfx{digits}"


def amd_architecture(gfx: str) -> str | None:
    if gfx.startswith("gfx12"):
        return "RDNA 4"
    if gfx.startswith("gfx115"):
        return "RDNA 3.5"
    if gfx.startswith("gfx11"):
        return "RDNA 3"
    if gfx.startswith("gfx103"):
        return "RDNA 2"
    if gfx.startswith("gfx101"):
        return "RDNA"
    return {
        "gfx950": "CDNA 4",
        "gfx940": "CDNA 3",
        "gfx941": "CDNA 3",
        "gfx942": "CDNA 3",
        "gfx90a": "CDNA 2",
        "gfx908": "CDNA",
        "gfx906": "GCN 5.1",
        "gfx900": "GCN 5",
    }.get(gfx)


def amd_features(gfx: str) -> GpuFeatures:
    arch = amd_architecture(gfx) or ""
    cdna = arch.startswith("CDNA")
    rdna3_plus = arch.startswith(("RDNA 3", "RDNA 4"))
    return GpuFeatures(
        tensor_cores=cdna or rdna3_plus,  # MFMA matrix cores (CDNA) / WMMA (RDNA 3+)
        fp16=gfx.startswith(("gfx9", "gfx10", "gfx11", "gfx12")),  # packed FP16 since Vega
        bf16=cdna or rdna3_plus,
        int8=gfx not in ("gfx900", "gfx1010") and bool(arch),  # dot4 int8 from gfx906 / RDNA 1.1 on
    )
