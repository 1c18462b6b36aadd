"""Settings of `obt operator`: environment variables OBT_*, nested groups joined by '__'.

Examples: OBT_NAMESPACE=obt, OBT_LIVENESS__REMOVE_AFTER_SECONDS=60, OBT_LEADER__LEASE_NAME=obt-operator,
OBT_KUBE__KUBECONFIG=/path, OBT_LISTEN=0.0.0.0:8882. Command-line options override them.
"""

from __future__ import annotations

import os
import socket

from pydantic import BaseModel, Field

from obt.core.liveness import LivenessConfig
from obt.core.names import AGENT_SELECTOR
from obt.core.settings import ObtSettings

# The labels the Helm chart puts on every agent pod (obt.core.names). The chart also sets
# OBT_AGENT_SELECTOR, adding its release's app.kubernetes.io/instance.
DEFAULT_AGENT_SELECTOR = AGENT_SELECTOR


def default_identity() -> str:
    """The pod name in a cluster (HOSTNAME), plus the pid so two replicas on one host differ."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}-{os.getpid()}"


class KubeSettings(BaseModel):
    kubeconfig: str | None = Field(
        None,
        description="Kubeconfig file; unset: in-cluster service account, else $KUBECONFIG or ~/.kube/config.",
    )
    context: str | None = Field(None, description="Kubeconfig context; unset: its current one.")
    request_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="Timeout of each write; a hung API server must not hang the sweep.",
    )


class LeaderSettings(BaseModel):
    enabled: bool = Field(
        True, description="Elect one active replica with a Lease (off: this one always writes)."
    )
    namespace: str | None = Field(None, description="Namespace of the Lease; unset: `namespace`.")
    lease_name: str = Field("obt-operator", description="Name of the coordination.k8s.io Lease.")
    lease_duration_seconds: float = Field(
        15.0, gt=0, description="A leader that has not renewed for this long may be replaced."
    )
    renew_deadline_seconds: float = Field(
        10.0,
        gt=0,
        description="A leader stops writing when its last successful renewal is older than this.",
    )
    renew_period_seconds: float = Field(
        5.0, gt=0, description="How often the leader renews the Lease (two tries per deadline)."
    )
    retry_period_seconds: float = Field(
        2.0,
        gt=0,
        description="How often the other replicas read the Lease: takeover within duration + this.",
    )


class OperatorSettings(ObtSettings):
    kube: KubeSettings = Field(default_factory=KubeSettings, description="API server access.")
    namespace: str = Field(
        "obt", description="OBT namespace: standalone heartbeat Leases, the leader Lease, Events."
    )
    agent_selector: str = Field(
        DEFAULT_AGENT_SELECTOR,
        description="Label selector of the agent DaemonSets' pods (server-side).",
    )
    listen: str = Field(
        "0.0.0.0:8882", description="host:port of /healthz and /metrics; empty: do not serve."
    )
    identity: str = Field(
        default_factory=default_identity,
        description="This replica's name in the leader Lease, its Events and its User-Agent.",
    )
    leader: LeaderSettings = Field(default_factory=LeaderSettings, description="Leader election.")
    liveness: LivenessConfig = Field(
        default_factory=LivenessConfig, description="Liveness timings and removal guards."
    )

    @property
    def leader_namespace(self) -> str:
        return self.leader.namespace or self.namespace

    @property
    def user_agent(self) -> str:
        from obt.core.version import __version__

        return f"obt-operator/{__version__} ({self.identity})"
