"""Which Nodes a rendered DaemonSet's pods may run on, computed as the scheduler does.

Implements the parts of kube-scheduler's filtering that the chart's pod specs use:
- `nodeSelector` (every pair must equal a node label);
- required node affinity: `nodeSelectorTerms` are ORed, each term's `matchExpressions` ANDed, with
  the operators In, NotIn, Exists, DoesNotExist, Gt and Lt (NotIn and DoesNotExist also match a node
  without the label, as in k8s.io/component-helpers/scheduling/corev1/nodeaffinity);
- taints with effect NoSchedule or NoExecute against the pod's tolerations (PreferNoSchedule does
  not filter). DaemonSet pods also get the controller's automatic tolerations for the node
  condition taints (not-ready, unreachable, disk-pressure ...), which are added here.
"""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]

# Added by the DaemonSet controller to every DaemonSet pod (pkg/controller/daemon/util).
DAEMONSET_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def expression_matches(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            node_value, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return node_value > bound if operator == "Gt" else node_value < bound
    raise ValueError(f"unknown node selector operator {operator!r} for key {key!r}")


def affinity_matches(pod_spec: dict[str, Any], labels: dict[str, str]) -> bool:
    required = (
        pod_spec.get("affinity", {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if required is None:
        return True
    terms = required["nodeSelectorTerms"]
    # A term without expressions matches nothing (an empty term list is invalid to begin with).
    return any(
        term.get("matchExpressions")
        and all(expression_matches(e, labels) for e in term["matchExpressions"])
        for term in terms
    )


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    operator = toleration.get("operator", "Equal")
    if operator == "Exists":
        return not toleration.get("key") or toleration["key"] == taint["key"]
    return toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get(
        "value", ""
    )


def taints_tolerated(pod_spec: dict[str, Any], node: Manifest, daemonset: bool = True) -> bool:
    tolerations = [
        *(pod_spec.get("tolerations") or []),
        *(DAEMONSET_TOLERATIONS if daemonset else []),
    ]
    for taint in node.get("spec", {}).get("taints") or []:
        if taint["effect"] == "PreferNoSchedule":
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return False
    return True


def schedulable(pod_spec: dict[str, Any], node: Manifest) -> bool:
    labels = node["metadata"].get("labels") or {}
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(key) != value for key, value in selector.items()):
        return False
    return affinity_matches(pod_spec, labels) and taints_tolerated(pod_spec, node)


def daemonset_nodes(daemonset: Manifest, nodes: list[Manifest]) -> list[str]:
    """Names of the nodes the DaemonSet runs a pod on."""
    pod_spec = daemonset["spec"]["template"]["spec"]
    return sorted(n["metadata"]["name"] for n in nodes if schedulable(pod_spec, n))
