"""The rendered default scenario applied with the real kubectl to the Kubernetes API test server,
then the operator and an agent started as processes with the env the chart gives their pods.

The test plays the kubelet: it creates the Node and the agent pod (labels from the rendered
DaemonSet), resolves the downward API fields and $(VAR) references of the rendered env, and stands
in for the hostPath mounts by pointing the agent's host root at this machine's own /.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import NAMESPACE, Manifest, one, template
from tests.support.fixtures import REPO, require_kubectl
from tests.support.kube_api_server import KubeApiServer

pytestmark = [pytest.mark.helm, pytest.mark.kubectl, pytest.mark.slow]

OBT = REPO / ".venv" / "bin" / "obt"
NODE = "gpu-node-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pod_env(workload: Manifest, fields: dict[str, str]) -> dict[str, str]:
    """The container's env as the kubelet would set it: downward API fields, then $(VAR)."""
    env: dict[str, str] = {}
    for entry in workload["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in entry:
            env[entry["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), entry["value"]
            )
        else:
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, text=True
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except OSError:
        return 0


def wait_for(check: Any, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


def test_default_scenario_applies_and_yields_a_ready_ollamanode(
    helm: str, kube_api: KubeApiServer, tmp_path: Path
) -> None:
    kubectl = require_kubectl()
    manifests = template(helm, include_crds=True)
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    rendered = tmp_path / "default.yaml"
    rendered.write_text(yaml.safe_dump_all(manifests))

    applied = subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(kube_api.kubeconfig),
            "--cache-dir",
            str(tmp_path / "cache"),
            "apply",
            "-n",
            NAMESPACE,
            "-f",
            str(rendered),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for manifest in manifests:
        meta = manifest["metadata"]
        stored = kube_api.get(
            manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace")
        )
        assert stored is not None, f"{manifest['kind']} {meta['name']} was not created"

    # The kubelet's part: a Ready Node and a Ready agent pod on it, labelled as the DaemonSet says.
    daemonset = one(manifests, "DaemonSet", "agent")
    operator = one(manifests, "Deployment", "operator")
    pod_labels = daemonset["spec"]["template"]["metadata"]["labels"]
    kube_api.set_node_ready(NODE)
    node_uid = kube_api.get("v1", "Node", NODE)["metadata"]["uid"]
    agent_pod = f"{daemonset['metadata']['name']}-x7k2p"
    kube_api.set_pod_ready(NAMESPACE, agent_pod, True, node_name=NODE, labels=pod_labels)

    operator_env = pod_env(
        operator, {"metadata.name": "obt-operator-5d9c7-abcde", "metadata.namespace": NAMESPACE}
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
    assert operator_env["OBT_NAMESPACE"] == NAMESPACE
    operator_port, agent_port = free_port(), free_port()
    # Outside a pod: a kubeconfig instead of the in-cluster token, 127.0.0.1 instead of the pod
    # IP, and / standing for the read-only hostPath mounts under /host.
    operator_env |= {
        "OBT_KUBE__KUBECONFIG": str(kube_api.kubeconfig),
        "OBT_LISTEN": f"127.0.0.1:{operator_port}",
    }
    agent_env |= {
        "OBT_AGENT__KUBECONFIG": str(kube_api.kubeconfig),
        "OBT_AGENT__LISTEN": f"127.0.0.1:{agent_port}",
        "OBT_AGENT__HOST_ROOT": "/",
    }
    commands = {}
    for name, workload in (("operator", operator), ("agent", daemonset)):
        command = workload["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[0] == "obt"
        commands[name] = [str(OBT), *command[1:]]

    logs = [tmp_path / "operator.log", tmp_path / "agent.log"]
    with (
        process(commands["operator"], operator_env, logs[0]) as op_proc,
        process(commands["agent"], agent_env, logs[1]) as agent_proc,
    ):

        def phase() -> str | None:
            assert op_proc.poll() is None and agent_proc.poll() is None, "a process exited"
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

    onode = kube_api.get("obt.dev/v1alpha1", "OllamaNode", NODE)
    assert onode["spec"]["source"] == "daemonset"
    assert onode["status"]["agent"]["podName"] == agent_pod
    assert onode["status"]["hardware"]["cpu"]["logicalCores"] >= 1
    owners = onode["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [("Node", NODE, node_uid)]
    # The leader Lease named by the chart, in the release namespace.
    lease = kube_api.get(
        "coordination.k8s.io/v1", "Lease", operator_env["OBT_LEADER__LEASE_NAME"], NAMESPACE
    )
    assert lease is not None
