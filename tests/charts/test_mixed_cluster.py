"""A mixed GPU cluster: NVIDIA, AMD, Intel, CPU-only and control-plane Nodes, one release.

Which Nodes each rendered agent DaemonSet runs on is computed from its rendered node affinity,
nodeSelector and tolerations against the Nodes' labels and taints (tests/charts/scheduling.py):
every Node gets exactly one agent, of its vendor's profile. Then the chart is applied with kubectl to
the Kubernetes API test server, Nodes labelled as Node Feature Discovery and the GPU operators label
them; an agent per Node runs with the env rendered for its profile (fake NVML on NVIDIA nodes, an
amdgpu sysfs tree on the AMD node, standing in for what the node offers), and the operator with its
rendered env: every Node ends Ready with its GPUs, none is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from obt.operator.settings import DEFAULT_AGENT_SELECTOR, OperatorSettings
from tests.charts.conftest import CHART, NAMESPACE, Manifest, by_kind, one, template
from tests.charts.kubelet import command, free_port, kubectl_apply, pod_env, process, wait_for
from tests.charts.scheduling import daemonset_nodes, expression_matches, schedulable
from tests.e2e.test_cluster_fleet import kubectl_rows
from tests.support.fixtures import REPO, require_kubectl
from tests.support.kube_api_server import KubeApiServer

pytestmark = pytest.mark.helm

MIXED = CHART / "ci" / "mixed-values.yaml"
NFD = "feature.node.kubernetes.io"
FIXTURES = REPO / "tests" / "agent" / "fixtures"
NO_SCHEDULE = "NoSchedule"

# name -> (labels, taints, expected profile). Labels as NFD (default deviceLabelFields
# class_vendor), NVIDIA GPU Feature Discovery, the AMD GPU Operator's NodeFeatureRule and Intel's
# device-plugin NodeFeatureRule write them.
NODES: dict[str, tuple[dict[str, str], list[dict[str, str]], str]] = {
    "h100-1": (
        {f"{NFD}/pci-0302_10de.present": "true", "nvidia.com/gpu.present": "true"},
        [{"key": "nvidia.com/gpu", "value": "present", "effect": NO_SCHEDULE}],
        "nvidia",
    ),
    "rtx-1": ({f"{NFD}/pci-0300_10de.present": "true"}, [], "nvidia"),
    "mi300-1": (
        {f"{NFD}/pci-0380_1002.present": "true", f"{NFD}/amd-gpu": "true"},
        [{"key": "amd.com/gpu", "value": "present", "effect": NO_SCHEDULE}],
        "amd",
    ),
    # An NVIDIA card beside an AMD one: NVIDIA takes precedence, the AMD agent stays away.
    "nv-and-amd-1": (
        {f"{NFD}/pci-0300_10de.present": "true", f"{NFD}/pci-0300_1002.present": "true"},
        [],
        "nvidia",
    ),
    "arc-1": (
        {f"{NFD}/pci-0300_8086.present": "true", "intel.feature.node.kubernetes.io/gpu": "true"},
        [],
        "intel",
    ),
    # A server whose only VGA is the BMC's (ASPEED, vendor 1a03): a CPU node.
    "cpu-1": (
        {f"{NFD}/pci-0300_1a03.present": "true", f"{NFD}/cpu-cpuid.AVX512F": "true"},
        [],
        "default",
    ),
    "control-plane-1": (
        {"node-role.kubernetes.io/control-plane": ""},
        [{"key": "node-role.kubernetes.io/control-plane", "effect": NO_SCHEDULE}],
        "default",
    ),
}


def node(name: str) -> Manifest:
    labels, taints, _ = NODES[name]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {"taints": taints} if taints else {},
    }


def profile_of(daemonset: Manifest) -> str:
    profile: str = daemonset["spec"]["template"]["metadata"]["labels"]["obt.dev/agent-profile"]
    return profile


def placement(manifests: list[Manifest], nodes: list[Manifest]) -> dict[str, list[str]]:
    """Node name -> profiles of the DaemonSets that run a pod there."""
    placed: dict[str, list[str]] = {n["metadata"]["name"]: [] for n in nodes}
    for daemonset in by_kind(manifests, "DaemonSet"):
        for name in daemonset_nodes(daemonset, nodes):
            placed[name].append(profile_of(daemonset))
    return placed


def test_mixed_cluster_every_node_gets_exactly_its_profiles_agent(
    render: Callable[..., list[Manifest]],
) -> None:
    manifests = render(MIXED)
    assert sorted(profile_of(ds) for ds in by_kind(manifests, "DaemonSet")) == [
        "amd",
        "default",
        "intel",
        "nvidia",
    ]
    nodes = [node(name) for name in NODES]
    assert placement(manifests, nodes) == {name: [spec[2]] for name, spec in NODES.items()}
    # The NVIDIA RuntimeClass only where the NVIDIA container runtime is.
    for daemonset in by_kind(manifests, "DaemonSet"):
        pod = daemonset["spec"]["template"]["spec"]
        if profile_of(daemonset) == "nvidia":
            assert pod["runtimeClassName"] == "nvidia"
        else:
            assert "runtimeClassName" not in pod
            assert "NVIDIA_VISIBLE_DEVICES" not in {e["name"] for e in pod["containers"][0]["env"]}


def test_mixed_cluster_defaults_match_the_mixed_scenario(
    render: Callable[..., list[Manifest]],
) -> None:
    # The scenario spells out the defaults: a plain `helm install` places agents the same way.
    assert [ds["spec"] for ds in by_kind(render(), "DaemonSet")] == [
        ds["spec"] for ds in by_kind(render(MIXED), "DaemonSet")
    ]


def test_mixed_cluster_without_nfd_every_node_gets_the_default_agent(
    render: Callable[..., list[Manifest]],
) -> None:
    # No NFD, no GPU operator: none of the profiles' labels exist, the default profile covers all.
    bare = [{**node(name), "metadata": {"name": name, "labels": {}}} for name in NODES]
    assert placement(render(), bare) == {name: ["default"] for name in NODES}


def test_mixed_cluster_hand_labelled_nodes_without_nfd(
    render: Callable[..., list[Manifest]],
) -> None:
    manifests = render(CHART / "ci" / "no-nfd-values.yaml")
    nodes = [
        {"metadata": {"name": "gpu-a", "labels": {"obt.dev/gpu": "nvidia"}}},
        {"metadata": {"name": "gpu-b", "labels": {"obt.dev/gpu": "amd"}}},
        {"metadata": {"name": "cpu", "labels": {}}},
        {
            "metadata": {"name": "cp", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {
                "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": NO_SCHEDULE}]
            },
        },
    ]
    assert placement(manifests, nodes) == {
        "gpu-a": ["nvidia"],
        "gpu-b": ["amd"],
        "cpu": ["default"],
        "cp": [],
    }


def test_mixed_cluster_nvidia_only_scenario_skips_other_nodes(
    render: Callable[..., list[Manifest]],
) -> None:
    manifests = render(CHART / "ci" / "nvidia-only-values.yaml")
    nodes = [node(name) for name in NODES]
    placed = placement(manifests, nodes)
    assert placed == {
        name: (["nvidia"] if spec[2] == "nvidia" else []) for name, spec in NODES.items()
    }


def test_mixed_cluster_disabling_a_vendor_hands_its_nodes_to_the_next_match(
    render: Callable[..., list[Manifest]],
) -> None:
    manifests = render(MIXED, "--set", "agent.profiles.nvidia.enabled=false")
    placed = placement(manifests, [node(name) for name in NODES])
    assert placed["nv-and-amd-1"] == ["amd"]
    assert placed["h100-1"] == placed["rtx-1"] == ["default"]
    assert all(len(profiles) == 1 for profiles in placed.values()), placed


def test_mixed_cluster_operator_default_selector_matches_every_profiles_pods(
    render: Callable[..., list[Manifest]],
) -> None:
    default = OperatorSettings().operator.agent_selector
    assert default == DEFAULT_AGENT_SELECTOR
    manifests = render(MIXED)
    operator_env = {
        e["name"]: e.get("value")
        for e in one(manifests, "Deployment", "operator")["spec"]["template"]["spec"]["containers"][
            0
        ]["env"]
    }
    for selector in (default, operator_env["OBT_OPERATOR__AGENT_SELECTOR"]):
        for daemonset in by_kind(manifests, "DaemonSet"):
            labels = daemonset["spec"]["template"]["metadata"]["labels"]
            for pair in selector.split(","):
                key, value = pair.split("=", 1)
                assert labels.get(key) == value, (selector, profile_of(daemonset), labels)
    # The chart's selector is the default narrowed to its own release.
    assert set(operator_env["OBT_OPERATOR__AGENT_SELECTOR"].split(",")) == {
        *default.split(","),
        "app.kubernetes.io/instance=obt",
    }


def test_scheduling_helper_operators() -> None:
    labels = {"a": "1", "b": "x"}
    assert expression_matches({"key": "a", "operator": "In", "values": ["1"]}, labels)
    assert expression_matches({"key": "zz", "operator": "NotIn", "values": ["1"]}, labels)
    assert not expression_matches({"key": "b", "operator": "NotIn", "values": ["x"]}, labels)
    assert expression_matches({"key": "a", "operator": "Gt", "values": ["0"]}, labels)
    assert not expression_matches({"key": "b", "operator": "Lt", "values": ["5"]}, labels)
    assert expression_matches({"key": "zz", "operator": "DoesNotExist"}, labels)
    tainted = {
        "metadata": {"labels": {}},
        "spec": {"taints": [{"key": "k", "effect": NO_SCHEDULE}]},
    }
    assert not schedulable({"tolerations": []}, tainted)
    assert schedulable({"tolerations": [{"key": "k", "operator": "Exists"}]}, tainted)
    with pytest.raises(ValueError, match="unknown node selector operator"):
        expression_matches({"key": "a", "operator": "Near"}, labels)


FAKE_PYNVML = '''"""pynvml for a test agent: answers from the recording in OBT_TEST_NVML_RECORDING."""
import os
from pathlib import Path

from tests.agent.fake_pynvml import *  # noqa: F403
from tests.agent.fake_pynvml import FakeNvml

_fake = FakeNvml.from_file(Path(os.environ["OBT_TEST_NVML_RECORDING"]))


def __getattr__(name):
    return getattr(_fake, name)
'''


def host_root(tmp_path: Path, name: str, sys_tree: Path | None) -> Path:
    """The node's host root as the agent sees it under /host: this machine's /proc and /etc, and
    /sys from a recorded machine where the profile reads GPUs there."""
    root = tmp_path / "hosts" / name
    root.mkdir(parents=True)
    (root / "proc").symlink_to("/proc")
    (root / "etc").symlink_to("/etc")
    if sys_tree is None:
        (root / "sys").symlink_to("/sys")
    else:
        shutil.copytree(sys_tree, root / "sys")
    return root


@pytest.mark.kubectl
@pytest.mark.slow
def test_mixed_cluster_applied_every_node_ready_with_its_gpus(
    helm: str, kube_api: KubeApiServer, tmp_path: Path
) -> None:
    kubectl = require_kubectl()
    manifests = template(helm, "-f", str(MIXED), include_crds=True)
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    kubectl_apply(kubectl, kube_api, tmp_path, manifests, "mixed")
    kubectl_apply(kubectl, kube_api, tmp_path, [node(name) for name in NODES], "nodes")
    stored_nodes = []
    for name in NODES:
        kube_api.set_node_ready(name)
        stored_nodes.append(kube_api.get("v1", "Node", name))
        assert stored_nodes[-1]["metadata"]["labels"] == node(name)["metadata"]["labels"]

    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "pynvml.py").write_text(FAKE_PYNVML)
    nvml_recording = FIXTURES / "hgx-h100x8-thamada" / "nvml.json"
    amd_sys = FIXTURES / "rx7900xt-desktop" / "sys"

    operator = one(manifests, "Deployment", "operator")
    operator_env = pod_env(
        operator, {"metadata.name": "obt-operator-5d9c7-abcde", "metadata.namespace": NAMESPACE}
    ) | {"OBT_KUBE__KUBECONFIG": str(kube_api.kubeconfig), "OBT_OPERATOR__LISTEN": ""}
    logs = [tmp_path / "operator.log"]
    agents: dict[str, tuple[str, dict[str, str], Manifest]] = {}
    for daemonset in by_kind(manifests, "DaemonSet"):
        profile = profile_of(daemonset)
        for name in daemonset_nodes(daemonset, stored_nodes):
            assert name not in agents, f"{name} got a second agent ({profile})"
            pod = f"{daemonset['metadata']['name']}-{name}"
            labels = daemonset["spec"]["template"]["metadata"]["labels"]
            kube_api.set_pod_ready(NAMESPACE, pod, True, node_name=name, labels=labels)
            env = pod_env(
                daemonset,
                {
                    "metadata.name": pod,
                    "metadata.namespace": NAMESPACE,
                    "spec.nodeName": name,
                    "status.hostIP": "127.0.0.1",
                },
            )
            env |= {
                "OBT_AGENT__KUBECONFIG": str(kube_api.kubeconfig),
                "OBT_AGENT__LISTEN": f"127.0.0.1:{free_port()}",
                "OBT_AGENT__HOST_ROOT": str(
                    host_root(tmp_path, name, amd_sys if profile == "amd" else None)
                ),
                # Only the nvidia profile's pods get NVML (from the NVIDIA runtime): a fake here.
                "PYTHONPATH": os.pathsep.join(
                    [*([str(shims)] if profile == "nvidia" else []), str(REPO)]
                ),
                "OBT_TEST_NVML_RECORDING": str(nvml_recording),
            }
            agents[name] = (profile, env, daemonset)
            logs.append(tmp_path / f"agent-{name}.log")
    assert {name: spec[0] for name, spec in agents.items()} == {
        name: spec[2] for name, spec in NODES.items()
    }

    def onodes() -> dict[str, Any]:
        return {
            o["metadata"]["name"]: o
            for o in kube_api.list_objects("obt.dev/v1alpha1", "OllamaNode")
        }

    with ExitStack() as stack:
        procs = [stack.enter_context(process(command(operator), operator_env, logs[0]))]
        for name, (_, env, daemonset) in agents.items():
            procs.append(
                stack.enter_context(
                    process(command(daemonset), env, tmp_path / f"agent-{name}.log")
                )
            )

        def all_ready() -> bool:
            assert all(p.poll() is None for p in procs), "a process exited"
            found = onodes()
            return set(found) == set(NODES) and all(
                o.get("status", {}).get("phase") == "Ready" for o in found.values()
            )

        wait_for(all_ready, 120, "every OllamaNode Ready", logs)
        # Several operator sweeps later, still all there and Ready: nothing judged missing.
        time.sleep(5)
        # What the cluster's operator sees: `kubectl get ollamanodes`, GPUs of every GPU node.
        rows = kubectl_rows(kubectl, Path(kube_api.kubeconfig))
        assert set(rows) == set(NODES)
        for name, (_, _, profile) in NODES.items():
            assert rows[name]["STATUS"] == "Ready", rows[name]
            if profile == "nvidia":
                assert rows[name]["GPUS"].startswith("8x "), rows[name]
            elif profile == "amd":
                assert rows[name]["GPUS"].startswith("1x "), rows[name]
        assert all_ready(), json.dumps(
            {n: o.get("status", {}).get("phase") for n, o in onodes().items()}
        )

    found = onodes()
    for name, (profile, _, _) in agents.items():
        gpus = found[name]["status"]["hardware"].get("gpus") or []
        vendors = {gpu["vendor"] for gpu in gpus}
        if profile == "nvidia":
            assert len(gpus) == 8 and vendors == {"nvidia"}, (name, gpus)
        elif profile == "amd":
            assert vendors == {"amd"}, (name, gpus)
        else:
            assert "nvidia" not in vendors, (name, gpus)
    operator_log = logs[0].read_text()
    assert "AgentPodMissing" not in operator_log
