"""Names that several components (and the Helm chart) must spell the same way.

Python code imports them from here. The chart cannot import Python: tests/charts/test_render.py
asserts that the labels and names it renders equal these constants.
"""

from __future__ import annotations

# The API group and version of every OBT custom resource (obt.core.kinds declares the kinds).
GROUP = "obt.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# The OllamaNode kind's plural: the resource name in URLs and RBAC rules.
OLLAMANODES = "ollamanodes"

# Label on an OllamaNode saying how it reports: "daemonset" or "standalone".
SOURCE_LABEL = f"{GROUP}/source"
# Set on an OllamaNode just before it is deleted on purpose: the mirror records this reason.
REMOVAL_REASON = f"{GROUP}/removal-reason"

# Standalone hosts' heartbeat Leases (coordination.k8s.io/v1, in the OBT namespace): the API
# renews one per host, named obt-node-<OllamaNode name> and labelled with the host; the operator
# watches Leases carrying the label and maps a Lease back to its node by the name prefix.
STANDALONE_LEASE_PREFIX = "obt-node-"
STANDALONE_LEASE_LABEL = f"{GROUP}/standalone-host"


def standalone_lease_name(node: str) -> str:
    """The heartbeat Lease of the standalone host whose OllamaNode is `node`."""
    return f"{STANDALONE_LEASE_PREFIX}{node}"


# The labels the Helm chart puts on the pods of every agent DaemonSet (one per accelerator
# profile, any release): charts/obt/templates/_helpers.tpl "obt.selectorLabels" with component
# "agent". The chart's operator adds its release's app.kubernetes.io/instance to the selector.
AGENT_SELECTOR_LABELS: dict[str, str] = {
    "app.kubernetes.io/name": "obt",
    "app.kubernetes.io/component": "agent",
}
AGENT_SELECTOR = ",".join(f"{key}={value}" for key, value in AGENT_SELECTOR_LABELS.items())
