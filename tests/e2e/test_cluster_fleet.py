"""The whole cluster pipeline, every part real and in its own process.

`obt agent` (DaemonSet mode) and `obt agent --server` (a standalone host) report; `obt operator`
judges liveness; `obt api` in cluster mode mirrors the OllamaNodes into PostgreSQL and writes the
standalone host's OllamaNode and Lease; `kubectl` reads the objects. The Kubernetes API test
server (or, with OBT_E2E_CLUSTER=1, the cluster $KUBECONFIG names: tests/e2e/conftest.py) stands in
for the control plane and the test plays the kubelet (Node and pod readiness).
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from obt.operator.settings import DEFAULT_AGENT_SELECTOR
from tests.agent.fake_ollama import QWEN
from tests.e2e.conftest import (
    Cluster,
    OllamaThread,
    daemonset_agent_args,
    free_port,
    processes,
    standalone_agent_args,
)
from tests.support.fixtures import require_kubectl

pytestmark = [pytest.mark.slow, pytest.mark.kubectl, pytest.mark.postgres]

NS = "obt"
NODE = "gpu-node-1"
HOST = "mac-studio"
ADMIN = "e2e-admin-token-0123456789abcdef"
ONODE = ("obt.dev/v1alpha1", "OllamaNode")
# The agent pod's labels: the ones the operator's default selector (and the chart) use.
AGENT_LABELS = dict(pair.split("=", 1) for pair in DEFAULT_AGENT_SELECTOR.split(","))
# Operator timings scaled down so the test runs in seconds (defaults: sweep 2 s, 30 s, 60 s).
OPERATOR_ENV = {
    "OBT_KUBE__NAMESPACE": NS,
    "OBT_OPERATOR__LISTEN": "",
    "OBT_OPERATOR__LIVENESS__SWEEP_INTERVAL_SECONDS": "0.3",
    "OBT_OPERATOR__LIVENESS__HEARTBEAT_SECONDS": "1",
    "OBT_OPERATOR__LIVENESS__STANDALONE_NOT_READY_AFTER_SECONDS": "5",
    "OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECONDS": "600",
    "OBT_OPERATOR__LIVENESS__STARTUP_GRACE_SECONDS": "1",
    "OBT_OPERATOR__LEADER__LEASE_DURATION_SECONDS": "3",
    "OBT_OPERATOR__LEADER__RENEW_DEADLINE_SECONDS": "2",
    "OBT_OPERATOR__LEADER__RENEW_PERIOD_SECONDS": "0.5",
    "OBT_OPERATOR__LEADER__RETRY_PERIOD_SECONDS": "0.3",
}


def get_json(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def post_json(url: str, body: dict[str, Any], token: str) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def kubectl_rows(kubectl: str, kubeconfig: Path, *args: str) -> dict[str, dict[str, str]]:
    """`kubectl get ollamanodes` as {name: {COLUMN: value}} (columns split on 2+ spaces)."""
    out = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "get", "ollamanodes", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:  # "No resources found" goes to stderr
        return {}
    header = lines[0]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    rows = {}
    for line in lines[1:]:
        cells = [
            line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line) + 1], strict=True)
        ]
        names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def api_node(api: str, name: str) -> dict[str, Any] | None:
    page = get_json(f"{api}/api/v1/nodes?search={name}")
    return next((item for item in page["items"] if item["name"] == name), None)


def test_cluster_pipeline_end_to_end(
    cluster: Cluster,
    e2e_database: str,
    ollama: OllamaThread,
    tmp_path: Path,
) -> None:
    kubectl = require_kubectl()
    kubeconfig = Path(cluster.kubeconfig)
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    cluster.set_node_ready(NODE)
    cluster.set_pod_ready(NS, "obt-agent-x7k2p", True, node_name=NODE, labels=AGENT_LABELS)
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    kube = {"OBT_KUBE__KUBECONFIG": str(kubeconfig)}

    with processes(tmp_path) as procs:
        procs.start(
            "api",
            ["api", "--host", "127.0.0.1", "--port", str(api_port)],
            {
                **kube,
                "OBT_DATABASE__URL": e2e_database,
                "OBT_API__CLUSTER__ENABLED": "true",
                "OBT_KUBE__NAMESPACE": NS,
                "OBT_API__CLUSTER__LEADER_LEASE_SECONDS": "3",
                "OBT_API__ADMIN_TOKEN": ADMIN,
                "OBT_API__AUTH__ANONYMOUS_READ": "true",  # the checks read without a token
            },
        )
        procs.start("operator", ["operator"], {**kube, **OPERATOR_ENV})
        procs.start(
            "agent-daemonset",
            daemonset_agent_args(kubeconfig, ollama.ollama.url),
            {"OBT_NODE_NAME": NODE, "OBT_POD_NAME": "obt-agent-x7k2p", "OBT_POD_NAMESPACE": NS},
        )

        # 1. The DaemonSet node: kubectl shows it Ready with its Ollama facts ...
        rows = procs.wait_for(
            lambda: (
                (r := kubectl_rows(kubectl, kubeconfig)).get(NODE, {}).get("STATUS") == "Ready"
                and r
            ),
            60,
            "kubectl: gpu-node-1 Ready",
        )
        assert rows[NODE]["OLLAMA"] == "0.5.7"
        assert rows[NODE]["MODELS"] == "1"
        assert rows[NODE]["LOADED"] == "0"
        # ... and the API, fed only by its mirror, lists the same.
        procs.wait_for(lambda: get_json(f"{api}/readyz"), 30, "API ready")
        item = procs.wait_for(
            lambda: (n := api_node(api, NODE)) and n["phase"] == "Ready" and n, 30, "API: Ready"
        )
        assert item["source"] == "daemonset"
        assert item["ollamaVersion"] == "0.5.7"
        assert item["modelCount"] == 1

        # 2. A model pulled on the node reaches kubectl and the API without a restart.
        ollama.call(ollama.ollama.pull, QWEN)
        procs.wait_for(
            lambda: kubectl_rows(kubectl, kubeconfig)[NODE]["MODELS"] == "2", 30, "kubectl: 2"
        )
        procs.wait_for(lambda: api_node(api, NODE)["modelCount"] == 2, 30, "API: 2 models")

        # 3. A standalone host enrolls through the API: an OllamaNode and a Lease appear, the
        #    operator judges it Ready from the Lease, and the mirror brings it back to the API.
        token = post_json(
            f"{api}/api/v1/enrollment-tokens", {"description": "e2e", "ttlSeconds": 600}, ADMIN
        )["token"]
        procs.start(
            "agent-standalone",
            standalone_agent_args(api, token, HOST, ollama.ollama.url, tmp_path / "agent-state"),
            {"OBT_AGENT__HEARTBEAT_INTERVAL_SECONDS": "1"},
        )
        wide = procs.wait_for(
            lambda: (
                (r := kubectl_rows(kubectl, kubeconfig, "-o", "wide")).get(HOST, {}).get("STATUS")
                == "Ready"
                and r
            ),
            60,
            "kubectl: standalone host Ready",
        )
        assert wide[HOST]["SOURCE"] == "standalone"
        assert wide[NODE]["SOURCE"] == "daemonset"
        lease = cluster.get("coordination.k8s.io/v1", "Lease", f"obt-node-{HOST}", NS)
        assert lease is not None
        assert lease["metadata"]["labels"]["obt.dev/standalone-host"] == HOST
        host = procs.wait_for(
            lambda: (n := api_node(api, HOST)) and n["phase"] == "Ready" and n, 30, "API: host"
        )
        assert host["source"] == "standalone"

        # 4. The kubelet marks the agent pod NotReady: the operator flips the object, the
        #    mirror carries it to the API; and back.
        cluster.set_pod_ready(NS, "obt-agent-x7k2p", False)
        procs.wait_for(lambda: api_node(api, NODE)["phase"] == "NotReady", 30, "API: NotReady")
        assert kubectl_rows(kubectl, kubeconfig)[NODE]["STATUS"] == "NotReady"
        cluster.set_pod_ready(NS, "obt-agent-x7k2p", True)
        procs.wait_for(lambda: api_node(api, NODE)["phase"] == "Ready", 30, "API: Ready again")

        # The node page carries the operator's conditions and their history, and the models.
        detail = get_json(f"{api}/api/v1/nodes/{NODE}")
        assert [c["type"] for c in detail["conditions"]] == ["Ready"]
        assert detail["conditions"][0]["status"] == "True"
        phases = [h.get("phase") for h in detail["history"]]
        assert "NotReady" in phases, detail["history"]
        assert sorted(m["name"] for m in detail["models"]) == ["llama3.1:8b", "qwen2.5:0.5b"]
