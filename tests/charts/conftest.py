"""Fixtures for the Helm chart tests: the real helm binary and rendered manifests.

helm comes from scripts/install-helm.sh (.tools/bin/helm) or PATH. With CI=true a missing helm is a
failure; elsewhere the helm-marked tests skip with a loud reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "obt"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "obt"
NAMESPACE = "obt-system"

Manifest = dict[str, Any]


def ci_requires_tools() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def find_helm() -> str | None:
    local = REPO / ".tools" / "bin" / "helm"
    if local.exists():
        return str(local)
    return shutil.which("helm")


@pytest.fixture(scope="session")
def helm() -> str:
    path = find_helm()
    if path:
        return path
    if ci_requires_tools():
        pytest.fail("helm is required on CI (CI=true): run scripts/install-helm.sh")
    pytest.skip("SKIPPED HELM CHART TESTS: helm not installed (run scripts/install-helm.sh)")
    raise AssertionError("unreachable")


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm, *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )


def template(helm: str, *extra: str, include_crds: bool = False) -> list[Manifest]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *extra]
    if include_crds:
        args.append("--include-crds")
    result = run_helm(helm, *args)
    assert result.returncode == 0, f"helm template {' '.join(extra)} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def render(helm: str) -> Callable[..., list[Manifest]]:
    """render(scenario_path_or_None, *helm_args) -> manifests; cached per arguments."""
    cache: dict[tuple[str, ...], list[Manifest]] = {}

    def _render(scenario: Path | None = None, *extra: str) -> list[Manifest]:
        args = (*(("-f", str(scenario)) if scenario else ()), *extra)
        if args not in cache:
            cache[args] = template(helm, *args)
        return cache[args]

    return _render


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def agent(manifests: list[Manifest], profile: str) -> Manifest:
    """The agent DaemonSet of one accelerator profile."""
    found = [
        m
        for m in by_kind(manifests, "DaemonSet")
        if m["metadata"]["labels"].get("obt.dev/agent-profile") == profile
    ]
    assert len(found) == 1, f"expected one {profile} agent DaemonSet, found {len(found)}"
    return found[0]


def one(manifests: list[Manifest], kind: str, component: str) -> Manifest:
    found = [
        m
        for m in by_kind(manifests, kind)
        if m["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} of component {component}, found {len(found)}"
    return found[0]


# A database of its own on the session's PostgreSQL (the API's cluster mode in test_apply.py).
from tests.e2e.conftest import e2e_database, pg_url  # noqa: E402, F401
