"""The kubelet's part, played by the chart tests: apply the rendered chart with the real kubectl,
resolve a container's env as the kubelet would (downward API, Secrets, $(VAR)), run the container's
command as a local process."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.charts.conftest import NAMESPACE, Manifest
from tests.support.fixtures import REPO
from tests.support.kube_api_server import KubeApiServer

OBT = REPO / ".venv" / "bin" / "obt"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kubectl_run(
    kubectl: str, kube_api: KubeApiServer, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(kube_api.kubeconfig),
            "--cache-dir",
            str(tmp_path / "kubectl-cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def kubectl_apply(
    kubectl: str, kube_api: KubeApiServer, tmp_path: Path, manifests: list[Manifest], name: str
) -> None:
    """`kubectl apply` the manifests, then check that every object is stored."""
    rendered = tmp_path / f"{name}.yaml"
    rendered.write_text(yaml.safe_dump_all(manifests))
    applied = kubectl_run(
        kubectl, kube_api, tmp_path, "apply", "-n", NAMESPACE, "-f", str(rendered)
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for manifest in manifests:
        meta = manifest["metadata"]
        stored = kube_api.get(
            manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace")
        )
        assert stored is not None, f"{manifest['kind']} {meta['name']} was not created"


def container(workload: Manifest) -> dict[str, Any]:
    first: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return first


def pod_env(
    workload: Manifest, fields: dict[str, str], kube_api: KubeApiServer | None = None
) -> dict[str, str]:
    """The container's env as the kubelet would set it: downward API fields, Secret keys (read
    from the API server, in the pod's namespace), then $(VAR) references to earlier entries."""
    env: dict[str, str] = {}
    for entry in container(workload)["env"]:
        if "value" in entry:
            env[entry["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), entry["value"]
            )
        elif "fieldRef" in entry["valueFrom"]:
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            assert kube_api is not None, f"{entry['name']} needs Secret {ref['name']}"
            secret = kube_api.get("v1", "Secret", ref["name"], fields["metadata.namespace"])
            assert secret is not None, f"Secret {ref['name']} (for {entry['name']}) is missing"
            env[entry["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return env


def command(workload: Manifest) -> list[str]:
    """The container's command, run from this checkout's virtual environment."""
    args: list[str] = container(workload)["command"]
    assert args[0] == "obt"
    return [str(OBT), *args[1:]]


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    with log.open("w") as out:
        proc = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, text=True
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


def wait_for(check: Callable[[], Any], timeout: float, what: str, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")
