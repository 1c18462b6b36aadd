"""The real-cluster path of the end-to-end suite, exercised where no real cluster is at hand.

`OBT_E2E_CLUSTER=1 KUBECONFIG=... pytest tests/e2e` (`make e2e-cluster`, scripts/kind-e2e.sh) runs the
e2e tests against whatever cluster the kubeconfig names, through kubectl alone. Here that cluster is
the in-repo Kubernetes API test server, started by this test and reached only through the
kubeconfig file it writes; the suite runs in a pytest subprocess of its own. scripts/kind-e2e.sh
itself needs kind node images, which cannot be pulled here: its argument handling and the steps
it prints are tested with --dry-run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import REPO, require_kubectl
from tests.support.kube_api_server import KubeApiServer

KIND_E2E = REPO / "scripts" / "kind-e2e.sh"


@pytest.mark.slow
@pytest.mark.kubectl
@pytest.mark.postgres
def test_e2e_suite_passes_against_the_cluster_in_kubeconfig(
    kube_api_server: KubeApiServer, tmp_path: Path
) -> None:
    require_kubectl()
    kube_api_server.reset()  # no CRD: the suite installs it, as on a fresh cluster
    kube_api_server.clear_requests()
    kubeconfig = Path(kube_api_server.write_kubeconfig(tmp_path / "kubeconfig"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "OBT_E2E_CLUSTER": "1",
        "KUBECONFIG": str(kubeconfig),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert " passed" in output and "skipped" not in output and "failed" not in output, output
    # The suite reached the cluster only through kubectl and the processes' kubeconfig: the CRD,
    # the Node, the agent pod and the OllamaNodes were all written here ...
    written = {r.resource for r in kube_api_server.writes()}
    assert {"customresourcedefinitions", "nodes", "pods", "ollamanodes"} <= written, written
    # ... and what the suite created is gone again.
    assert kube_api_server.get("v1", "Node", "gpu-node-1") is None
    assert kube_api_server.list_objects("obt.dev/v1alpha1", "OllamaNode") == []


def test_e2e_suite_refuses_a_real_cluster_without_kubeconfig(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG" and not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-p", "no:cacheprovider", "-x"],
        cwd=REPO,
        env={**env, "OBT_E2E_CLUSTER": "1", "KUBECONFIG": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "OBT_E2E_CLUSTER=1 needs KUBECONFIG to name one kubeconfig file" in result.stdout


def kind_e2e(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(KIND_E2E), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_kind_e2e_dry_run_prints_every_step_and_runs_none() -> None:
    # PATH without kind or docker: a dry run needs neither.
    result = subprocess.run(
        ["bash", str(KIND_E2E), "--dry-run", "--name", "obt-ci", "--tag", "t1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": "/tmp"},
    )
    assert result.returncode == 0, result.stderr
    steps = [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert [step.split()[0:2] for step in steps] == [
        ["kind", "create"],
        ["docker", "build"],
        ["docker", "build"],
        ["kind", "load"],
        ["kubectl", "--kubeconfig"],
        ["kubectl", "--kubeconfig"],
        ["helm", "install"],
        ["kubectl", "--kubeconfig"],
        ["kubectl", "--kubeconfig"],
        ["helm", "uninstall"],
        ["kubectl", "--kubeconfig"],
        ["env", "OBT_E2E_CLUSTER=1"],
    ]
    assert "--name obt-ci" in steps[0]
    assert "docker.io/library/obt-agent:t1" in steps[1]
    assert "agent.image.tag=t1" in steps[6]
    assert steps[-1].endswith("pytest tests/e2e -q")
    assert steps[-2].endswith("delete ollamanodes --all")
    # The fake accelerator labels of the workers are ones the chart's profiles match.
    assert 'nvidia.com/gpu.present: "true"' in result.stdout
    assert 'feature.node.kubernetes.io/amd-gpu: "true"' in result.stdout
    assert not Path("/tmp/obt-kind-e2e-obt-ci/kind.yaml").exists()


def test_kind_e2e_helm_install_line_is_accepted_by_the_chart(helm: str) -> None:
    result = kind_e2e("--dry-run")
    install = next(line for line in result.stdout.splitlines() if line.startswith("+ helm install"))
    sets = [arg for arg in install.split() if "=" in arg and not arg.startswith("--")]
    args = [item for value in sets for item in ("--set", value)]
    rendered = subprocess.run(
        [helm, "template", "obt", str(REPO / "charts" / "obt"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert "image: docker.io/library/obt-agent:e2e" in rendered.stdout
    assert "runtimeClassName" not in rendered.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown argument '--bogus'"),
        (["--name"], "--name needs a value"),
        (["--name", "--dry-run"], "--name needs a value"),
        (["--name", "Not_Valid", "--dry-run"], "is not a valid cluster name"),
        (["--tag", "a b", "--dry-run"], "is not a valid image tag"),
    ],
)
def test_kind_e2e_rejects_bad_arguments(args: list[str], message: str) -> None:
    result = kind_e2e(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "+ kind" not in result.stdout


def test_kind_e2e_help() -> None:
    result = kind_e2e("--help")
    assert result.returncode == 0
    assert "--dry-run" in result.stdout and "--keep" in result.stdout
