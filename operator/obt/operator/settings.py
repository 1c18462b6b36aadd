"""Settings of `obt operator`: its own in OBT_OPERATOR__*, the shared Kubernetes ones in OBT_KUBE__*.

Examples: OBT_KUBE__NAMESPACE=obt, OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECONDS=60,
OBT_OPERATOR__LEADER__LEASE_NAME=obt-operator, OBT_KUBE__KUBECONFIG=/path,
OBT_OPERATOR__LISTEN=0.0.0.0:8882 (docs/operator.md lists them all; the names they had before
0.x still work for one release, obt.core.settings.RENAMED). Command-line options override them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from obt.core.liveness import LivenessConfig
from obt.core.names import AGENT_SELECTOR
from obt.core.settings import KubeSettings, ObtSettings

# The labels the Helm chart puts on every agent pod (obt.core.names). The chart also sets
# OBT_OPERATOR__AGENT_SELECTOR, adding its release's app.kubernetes.io/instance.
DEFAULT_AGENT_SELECTOR = AGENT_SELECTOR


class LeaderSettings(BaseModel):
    enabled: bool = Field(
        True, description="Elect one active replica with a Lease (off: this one always writes)."
    )
    namespace: str | None = Field(
        None, description="Namespace of the Lease; unset: OBT_KUBE__NAMESPACE."
    )
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


class OperatorGroup(BaseModel):
    """The operator's own settings (OBT_OPERATOR__*)."""

    agent_selector: str = Field(
        DEFAULT_AGENT_SELECTOR,
        description="Label selector of the agent DaemonSets' pods (server-side).",
    )
    listen: str = Field(
        "0.0.0.0:8882", description="host:port of /healthz and /metrics; empty: do not serve."
    )
    request_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="Timeout of each write; a hung API server must not hang the sweep.",
    )
    leader: LeaderSettings = Field(default_factory=LeaderSettings, description="Leader election.")
    liveness: LivenessConfig = Field(
        default_factory=LivenessConfig, description="Liveness timings and removal guards."
    )


class OperatorSettings(ObtSettings):
    kube: KubeSettings = Field(
        default_factory=KubeSettings, description="Kubernetes access and identity (shared)."
    )
    operator: OperatorGroup = Field(default_factory=OperatorGroup, description="The operator.")

    @property
    def leader_namespace(self) -> str:
        return self.operator.leader.namespace or self.kube.namespace

    @property
    def user_agent(self) -> str:
        from obt.core.version import __version__

        return f"obt-operator/{__version__} ({self.kube.identity})"
