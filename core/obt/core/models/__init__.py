"""The OBT contract: pydantic models of the OllamaNode custom resource."""

from obt.core.models.base import ContractModel
from obt.core.models.hardware import (
    CpuInfo,
    GpuFeatures,
    GpuInfo,
    HardwareStatus,
    MemoryInfo,
    NpuInfo,
    OsInfo,
)
from obt.core.models.node import (
    CATEGORIES,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    AgentStatus,
    Condition,
    NodeSummary,
    ObjectMeta,
    OllamaNode,
    OllamaNodeSpec,
    OllamaNodeStatus,
)
from obt.core.models.ollama import InstalledModel, LoadedModel, OllamaStatus
from obt.core.names import API_VERSION, GROUP, VERSION

__all__ = [
    "API_VERSION",
    "CATEGORIES",
    "GROUP",
    "KIND",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "AgentStatus",
    "Condition",
    "ContractModel",
    "CpuInfo",
    "GpuFeatures",
    "GpuInfo",
    "HardwareStatus",
    "InstalledModel",
    "LoadedModel",
    "MemoryInfo",
    "NodeSummary",
    "NpuInfo",
    "ObjectMeta",
    "OllamaNode",
    "OllamaNodeSpec",
    "OllamaNodeStatus",
    "OllamaStatus",
    "OsInfo",
]
