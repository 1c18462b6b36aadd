"""Resource registry and discovery documents of the test Kubernetes API server.

Built-in kinds are plain stored objects (no controllers); CustomResourceDefinitions register their
resources the moment they are created, as kube-apiserver's apiextensions controller does once the
names are accepted. Discovery shapes follow
https://kubernetes.io/docs/reference/using-api/api-concepts/#discovery-api (legacy, unaggregated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]


@dataclass
class ResourceInfo:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    has_status: bool = False
    # kube-apiserver keeps metadata.generation only for kinds with a spec that controllers observe.
    has_generation: bool = False
    # Node and most built-ins accept status on create; custom resources with a status subresource
    # drop it (apiextensions-apiserver customResourceStrategy.PrepareForCreate).
    status_on_create: bool = True
    is_custom: bool = False
    schema: dict[str, Any] | None = None
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    selectable_fields: list[str] = field(default_factory=list)
    storage_version: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Storage key: all versions of a group/plural share one store, as in etcd."""
        return f"{self.group}/{self.plural}"

    def discovery_entries(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ALL_VERBS,
        }
        if self.short_names:
            entry["shortNames"] = self.short_names
        if self.categories:
            entry["categories"] = self.categories
        entries = [entry]
        if self.has_status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": STATUS_VERBS,
                }
            )
        return entries


def _b(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool,
    short: tuple[str, ...] = (),
    status: bool = False,
    generation: bool = False,
    categories: tuple[str, ...] = (),
) -> ResourceInfo:
    return ResourceInfo(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=list(short),
        categories=list(categories),
        has_status=status,
        has_generation=generation,
    )


def builtin_resources() -> list[ResourceInfo]:
    """The built-in kinds our components, the Helm chart and kubectl touch."""
    pods = _b("", "v1", "pods", "Pod", True, ("po",), status=True, categories=("all",))
    # PodStrategy.PrepareForCreate resets status to phase Pending; the kubelet fills the rest.
    pods.status_on_create = False
    return [
        _b("", "v1", "namespaces", "Namespace", False, ("ns",), status=True),
        _b("", "v1", "nodes", "Node", False, ("no",), status=True),
        pods,
        _b("", "v1", "events", "Event", True, ("ev",)),
        _b("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
        _b("", "v1", "services", "Service", True, ("svc",), status=True, categories=("all",)),
        _b("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
        _b("", "v1", "secrets", "Secret", True),
        _b("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), True),
        _b("", "v1", "endpoints", "Endpoints", True, ("ep",)),
        _b("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), True, True, ("all",)),
        _b("apps", "v1", "deployments", "Deployment", True, ("deploy",), True, True, ("all",)),
        _b("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), True, True, ("all",)),
        _b("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), True, True, ("all",)),
        _b("batch", "v1", "jobs", "Job", True, (), True, True, ("all",)),
        _b("batch", "v1", "cronjobs", "CronJob", True, ("cj",), True, True, ("all",)),
        _b("events.k8s.io", "v1", "events", "Event", True, ("ev",)),
        _b("coordination.k8s.io", "v1", "leases", "Lease", True),
        _b("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
        _b("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
        _b("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
        _b("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
        _b(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicies",
            "ValidatingAdmissionPolicy",
            False,
            status=True,
            generation=True,
        ),
        _b(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            "ValidatingAdmissionPolicyBinding",
            False,
            generation=True,
        ),
        _b("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), True, True),
        _b("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
        _b("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), True),
        _b("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
        _b(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            False,
            ("crd", "crds"),
            status=True,
            generation=True,
        ),
    ]


# Field selectors each built-in kind supports besides metadata.name/metadata.namespace
# (pkg/registry/*/strategy.go *ToSelectableFields in kubernetes/kubernetes).
EXTRA_FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "/pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "/events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "events.k8s.io/events": ("regarding.kind", "regarding.name", "regarding.uid", "reason", "type"),
    "/nodes": ("spec.unschedulable",),
    "/namespaces": ("status.phase",),
    "/secrets": ("type",),
}


class Registry:
    """What the discovery endpoints announce, keyed the way URLs address resources."""

    def __init__(self) -> None:
        self.by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        for info in builtin_resources():
            self.add(info)
        self._builtin = dict(self.by_gvr)

    def reset(self) -> None:
        self.by_gvr = dict(self._builtin)

    def add(self, info: ResourceInfo) -> None:
        self.by_gvr[(info.group, info.version, info.plural)] = info

    def remove_group_plural(self, group: str, plural: str) -> None:
        for key in [k for k in self.by_gvr if k[0] == group and k[2] == plural]:
            del self.by_gvr[key]

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self.by_gvr.get((group, version, plural))

    def find_kind(self, api_version: str, kind: str) -> ResourceInfo | None:
        group, _, version = api_version.rpartition("/")
        for info in self.by_gvr.values():
            if info.group == group and info.version == version and info.kind == kind:
                return info
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> versions, preferred (storage) version first."""
        out: dict[str, list[str]] = {}
        for info in self.by_gvr.values():
            versions = out.setdefault(info.group, [])
            if info.version not in versions:
                if info.storage_version == info.version:
                    versions.insert(0, info.version)
                else:
                    versions.append(info.version)
        return out

    def resources_in(self, group: str, version: str) -> list[ResourceInfo]:
        return [i for i in self.by_gvr.values() if i.group == group and i.version == version]

    # Discovery documents -------------------------------------------------------------------

    def api_versions(self, server_address: str) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
            ],
        }

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.groups().get(group)
        if not group or not versions:
            return None
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": gvs,
            "preferredVersion": gvs[0],
        }

    def api_group_list(self) -> dict[str, Any]:
        groups = [self.api_group(g) for g in sorted(self.groups()) if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        infos = self.resources_in(group, version)
        if not infos:
            return None
        resources: list[dict[str, Any]] = []
        for info in sorted(infos, key=lambda i: i.plural):
            resources.extend(info.discovery_entries())
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }


def resources_from_crd(crd: dict[str, Any]) -> list[ResourceInfo]:
    """One ResourceInfo per served version of an apiextensions.k8s.io/v1 CRD."""
    spec = crd["spec"]
    names = spec["names"]
    out = []
    storage = next((v["name"] for v in spec["versions"] if v.get("storage")), "")
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceInfo(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []),
                has_status="status" in subresources,
                has_generation=True,
                status_on_create="status" not in subresources,
                is_custom=True,
                schema=schema,
                printer_columns=list(version.get("additionalPrinterColumns") or []),
                selectable_fields=[f["jsonPath"] for f in version.get("selectableFields") or []],
                storage_version=storage,
            )
        )
    return out
