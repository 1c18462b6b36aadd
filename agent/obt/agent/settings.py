"""Settings of `obt agent`, read from OBT_* environment variables (see docs/agent.md).

Command-line options override them. Kubernetes fills OBT_NODE_NAME, OBT_POD_NAME and
OBT_POD_NAMESPACE through the downward API.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from obt.core.settings import ObtSettings

# Node labels a DaemonSet agent copies onto its OllamaNode (so tasks and model sets can select
# by them): the well-known topology, instance-type, NFD and GPU vendors' labels, and obt.dev/.
# A prefix ending in '/' takes every key under it; any other is one exact key.
DEFAULT_NODE_LABEL_PREFIXES = [
    "topology.kubernetes.io/",
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "node.kubernetes.io/instance-type",
    "feature.node.kubernetes.io/",
    "nvidia.com/",
    "amd.com/",
    "gpu.intel.com/",
    "obt.dev/",
]


def default_data_dir() -> Path:
    """Where the standalone agent keeps its state file (the per-node token)."""
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "obt-agent"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "obt-agent"
    if os.geteuid() == 0:
        return Path("/var/lib/obt-agent")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "obt-agent"


def default_host_id() -> str:
    """The host name as a DNS-1123 label, which is what an OllamaNode name must be."""
    name = platform.node().split(".")[0].lower()
    name = re.sub(r"[^a-z0-9-]+", "-", name).strip("-")
    return name[:63] or "host"


class AgentConfig(BaseModel):
    server: str | None = Field(
        None,
        description="Base URL of the OBT API for HTTP (standalone) mode, e.g. https://obt.example:8881.",
    )
    ca_file: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the server's certificate (a private CA); "
        "default: the system's trust store.",
    )
    token: SecretStr | None = Field(None, description="Per-node token already issued by the API.")
    enroll_token: SecretStr | None = Field(
        None, description="Enrollment token ('abcdef.0123456789abcdef') to obtain a node token."
    )
    host_id: str = Field(
        default_factory=default_host_id,
        description="Id of this host in standalone mode (the OllamaNode name); default the host name.",
    )
    display_name: str | None = Field(None, description="Friendly name shown in the dashboard.")
    replace: bool = Field(
        False,
        description="At enrollment, take the host id's node over even when a listed node of "
        "another machine holds it (that machine's token stops working).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels sent at enrollment (JSON in the environment)."
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory of the state file that holds the per-node token (mode 0600).",
    )
    kubernetes: bool | None = Field(
        None,
        description="Kubernetes (DaemonSet) mode: true, false, or unset to detect in-cluster "
        "(KUBERNETES_SERVICE_HOST set and no --server).",
    )
    kubeconfig: str | None = Field(
        None, description="Kubeconfig file for Kubernetes mode outside a pod (tests, development)."
    )
    ollama_url: str = Field(
        "http://127.0.0.1:11434", description="Where the agent reaches the local Ollama server."
    )
    host_root: Path = Field(
        Path("/"),
        description="Root of the host's file system: '/' on bare metal, '/host' in the DaemonSet. "
        "Every /proc, /sys and /etc read goes below it.",
    )
    interval_seconds: float = Field(
        15.0, gt=0, description="Seconds between detection cycles (Ollama and fast sources)."
    )
    hardware_interval_seconds: float = Field(
        300.0,
        gt=0,
        description="Seconds between runs of the slow sources that start a program "
        "(rocm-smi, system_profiler, lspci, PowerShell); their last result is reused in between.",
    )
    heartbeat_interval_seconds: float = Field(
        10.0, gt=0, description="Seconds between heartbeats in HTTP mode."
    )
    api_check_interval_seconds: float = Field(
        60.0,
        gt=0,
        description="Kubernetes mode: seconds between cheap reads of the own OllamaNode "
        "(served from the API server's cache) that check the API is reachable and re-sync a "
        "wiped or recreated object.",
    )
    ready_cycles: int = Field(
        3,
        ge=1,
        description="/readyz fails when no detection cycle completed within this many intervals.",
    )
    api_failure_threshold: int = Field(
        2,
        ge=1,
        description="/readyz fails after this many consecutive failed API requests.",
    )
    listen: str | None = Field(
        None,
        description="host:port of /healthz, /readyz and /metrics; default 0.0.0.0:9881 in "
        "Kubernetes mode and 127.0.0.1:9881 otherwise; 'off' disables it.",
    )
    report_available_memory: bool = Field(
        False,
        description="Put memory.availableBytes (rounded down to whole GiB) into the report. Off by "
        "default: free memory moves all the time, and the exact figure is on /metrics.",
    )
    request_timeout_seconds: float = Field(10.0, gt=0, description="Seconds per HTTP request.")
    max_backoff_seconds: float = Field(
        60.0, gt=0, description="Longest wait between retries while the server is away."
    )
    work: bool = Field(
        True,
        description="Act on model tasks and model sets that select this node (pull, delete, "
        "load, unload); false: observe only.",
    )
    node_label_prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_NODE_LABEL_PREFIXES),
        description="Kubernetes mode: the Node labels copied onto the OllamaNode, as key "
        "prefixes ending in '/' or exact keys; comma-separated or a JSON list in the "
        "environment. Empty: copy none.",
    )
    ollama_models_dir: Path | None = Field(
        None,
        description="Ollama's models directory, for the disk check before a pull; default "
        "$OLLAMA_MODELS, else /usr/share/ollama/.ollama/models (the Linux service) when it "
        "exists, else ~/.ollama/models; below host_root.",
    )
    disk_margin_bytes: int = Field(
        1 << 30,
        ge=0,
        description="A pull is refused (reason DiskFull) when it would leave less than this "
        "much free in the models directory.",
    )
    pull_attempts: int = Field(
        5,
        ge=1,
        description="Tries of a pull that fails mid-way (connection dropped, 5xx, stream ended "
        "early) before it ends Failed; each retry resumes the partial download.",
    )
    pull_max_backoff_seconds: float = Field(
        60.0, gt=0, description="Longest wait between two tries of a pull."
    )
    activity_write_interval_seconds: float = Field(
        5.0,
        ge=1.0,
        description="Least seconds between two writes of the node's status.activity while work "
        "runs (none while idle).",
    )

    @field_validator("node_label_prefixes", mode="before")
    @classmethod
    def _prefixes(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [p.strip() for p in text.split(",") if p.strip()]
        return value


class AgentSettings(ObtSettings):
    agent: AgentConfig = Field(default_factory=AgentConfig, description="The agent.")
    node_name: str | None = Field(
        None, description="Kubernetes node name (downward API spec.nodeName): OBT_NODE_NAME."
    )
    pod_name: str | None = Field(None, description="Agent pod name (downward API): OBT_POD_NAME.")
    pod_namespace: str | None = Field(
        None, description="Agent pod namespace (downward API): OBT_POD_NAMESPACE."
    )

    def kubernetes_mode(self) -> bool:
        if self.agent.kubernetes is not None:
            return self.agent.kubernetes
        if self.agent.server:
            return False
        return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) or bool(self.agent.kubeconfig)

    def listen_address(self) -> tuple[str, int] | None:
        value = self.agent.listen
        if value is None:
            value = "0.0.0.0:9881" if self.kubernetes_mode() else "127.0.0.1:9881"
        if value.lower() in ("", "off", "none", "false"):
            return None
        host, _, port = value.rpartition(":")
        return (host or "127.0.0.1").strip("[]"), int(port)
