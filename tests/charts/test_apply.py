"""The rendered default scenario applied with the real kubectl to the Kubernetes API test server,
then the operator, the API (against a real PostgreSQL, cluster mode) and an agent started as
processes with the env the chart gives their pods.

The test plays the kubelet: it creates the Node and the agent pod (labels from the rendered
DaemonSet that selects the Node), resolves the downward API fields, Secret keys and $(VAR)
references of the rendered env, and stands in for the hostPath mounts by pointing the agent's host
root at this machine's own /.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import NAMESPACE, by_kind, one, template
from tests.charts.kubelet import (
    command,
    free_port,
    http_status,
    kubectl_apply,
    kubectl_run,
    pod_env,
    process,
    wait_for,
)
from tests.charts.scheduling import daemonset_nodes
from tests.support.fixtures import require_kubectl
from tests.support.kube_api_server import KubeApiServer

pytestmark = [pytest.mark.helm, pytest.mark.kubectl, pytest.mark.slow, pytest.mark.postgres]

NODE = "gpu-node-1"


def api_nodes(url: str, token: str) -> dict[str, str]:
    """The API's node list, read with the release's admin token (the chart is closed by default:
    no anonymous reads)."""
    request = urllib.request.Request(
        f"{url}/api/v1/nodes", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        page: dict[str, Any] = json.load(response)
    return {item["name"]: item["phase"] for item in page["items"]}


def kubectl_nodes(kubectl: str, kube_api: KubeApiServer, tmp_path: Path) -> dict[str, str]:
    result = kubectl_run(kubectl, kube_api, tmp_path, "get", "ollamanodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    return {i["metadata"]["name"]: i.get("status", {}).get("phase") for i in items}


def test_default_scenario_applies_and_yields_a_ready_ollamanode(
    helm: str, kube_api: KubeApiServer, e2e_database: str, tmp_path: Path
) -> None:
    kubectl = require_kubectl()
    manifests = template(helm, include_crds=True)
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    kubectl_apply(kubectl, kube_api, tmp_path, manifests, "default")
    # The external database URL, as the chart's NOTES tell the user to create it (built on the
    # client: the test server speaks JSON, not the protobuf `kubectl create` sends).
    secret = kubectl_run(
        kubectl, kube_api, tmp_path, "-n", NAMESPACE, "create", "secret", "generic",
        "obt-database", f"--from-literal=url={e2e_database}", "--dry-run=client", "-o", "yaml",
    )  # fmt: skip
    assert secret.returncode == 0, secret.stderr
    kubectl_apply(kubectl, kube_api, tmp_path, [yaml.safe_load(secret.stdout)], "database")

    # The kubelet's part: a Ready Node (no GPU labels) and a Ready agent pod on it, labelled as
    # the one DaemonSet that selects the Node says: the default profile's.
    kube_api.set_node_ready(NODE)
    node = kube_api.get("v1", "Node", NODE)
    node_uid = node["metadata"]["uid"]
    daemonsets = [ds for ds in by_kind(manifests, "DaemonSet") if daemonset_nodes(ds, [node])]
    assert [ds["metadata"]["name"] for ds in daemonsets] == ["obt-agent-default"]
    daemonset = daemonsets[0]
    operator = one(manifests, "Deployment", "operator")
    api = one(manifests, "Deployment", "api")
    pod_labels = daemonset["spec"]["template"]["metadata"]["labels"]
    agent_pod = f"{daemonset['metadata']['name']}-x7k2p"
    kube_api.set_pod_ready(NAMESPACE, agent_pod, True, node_name=NODE, labels=pod_labels)

    operator_env = pod_env(
        operator, {"metadata.name": "obt-operator-5d9c7-abcde", "metadata.namespace": NAMESPACE}
    )
    api_env = pod_env(
        api, {"metadata.name": "obt-api-6f8d9-fghij", "metadata.namespace": NAMESPACE}, kube_api
    )
    agent_env = pod_env(
        daemonset,
        {
            "metadata.name": agent_pod,
            "metadata.namespace": NAMESPACE,
            "spec.nodeName": NODE,
            "status.hostIP": "127.0.0.1",
        },
    )
    assert agent_env["OBT_AGENT__HOST_ROOT"] == "/host"
    assert agent_env["OBT_AGENT__KUBERNETES"] == "true"
    assert operator_env["OBT_KUBE__NAMESPACE"] == NAMESPACE
    assert "OBT_MODE" not in api_env and api_env["OBT_API__CLUSTER__ENABLED"] == "true"
    assert api_env["OBT_DATABASE__URL"] == e2e_database
    assert len(api_env["OBT_API__ADMIN_TOKEN"]) == 40
    admin_token = api_env["OBT_API__ADMIN_TOKEN"]
    operator_port, agent_port, api_port = free_port(), free_port(), free_port()
    # Outside a pod: a kubeconfig instead of the in-cluster token, 127.0.0.1 instead of the pod
    # IP, and / standing for the read-only hostPath mounts under /host.
    kube = {"OBT_KUBE__KUBECONFIG": str(kube_api.kubeconfig)}
    operator_env |= {**kube, "OBT_OPERATOR__LISTEN": f"127.0.0.1:{operator_port}"}
    api_env |= {**kube, "OBT_API__HOST": "127.0.0.1", "OBT_API__PORT": str(api_port)}
    agent_env |= {
        "OBT_AGENT__KUBECONFIG": str(kube_api.kubeconfig),
        "OBT_AGENT__LISTEN": f"127.0.0.1:{agent_port}",
        "OBT_AGENT__HOST_ROOT": "/",
    }
    api_url = f"http://127.0.0.1:{api_port}"

    logs = [tmp_path / "operator.log", tmp_path / "agent.log", tmp_path / "api.log"]
    with (
        process(command(operator), operator_env, logs[0]) as op_proc,
        process(command(daemonset), agent_env, logs[1]) as agent_proc,
        process(command(api), api_env, logs[2]) as api_proc,
    ):

        def phase() -> str | None:
            for name, proc in (("operator", op_proc), ("agent", agent_proc), ("api", api_proc)):
                assert proc.poll() is None, f"{name} exited\n{logs}"
            onode = kube_api.get("obt.dev/v1alpha1", "OllamaNode", NODE)
            return (onode or {}).get("status", {}).get("phase")

        wait_for(lambda: phase() == "Ready", 60, f"OllamaNode {NODE} Ready", logs)
        wait_for(
            lambda: http_status(f"http://127.0.0.1:{agent_port}/readyz") == 200,
            30,
            "agent /readyz",
            logs,
        )
        assert http_status(f"http://127.0.0.1:{operator_port}/healthz") == 200
        wait_for(lambda: http_status(f"{api_url}/readyz") == 200, 60, "API /readyz", logs)
        # kubectl and the API (fed only by its mirror of the OllamaNodes) agree.
        listed = wait_for(
            lambda: (n := api_nodes(api_url, admin_token)).get(NODE) == "Ready" and n,
            30,
            "API: Ready",
            logs,
        )
        assert listed == kubectl_nodes(kubectl, kube_api, tmp_path) == {NODE: "Ready"}

    onode = kube_api.get("obt.dev/v1alpha1", "OllamaNode", NODE)
    assert onode["spec"]["source"] == "daemonset"
    assert onode["status"]["agent"]["podName"] == agent_pod
    assert onode["status"]["hardware"]["cpu"]["logicalCores"] >= 1
    owners = onode["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [("Node", NODE, node_uid)]
    # The leader Leases named by the chart, in the release namespace.
    for lease_name in (
        operator_env["OBT_OPERATOR__LEADER__LEASE_NAME"],
        api_env["OBT_API__CLUSTER__LEADER_LEASE_NAME"],
    ):
        assert kube_api.get("coordination.k8s.io/v1", "Lease", lease_name, NAMESPACE) is not None
