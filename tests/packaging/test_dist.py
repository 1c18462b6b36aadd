"""What we ship, installed as a user installs it (issue 11, must show 3): the wheel of `make dist`
in fresh venvs. `[agent]` brings none of the server packages and `obt agent detect` runs;
`[server]` runs `obt serve`, which serves the dashboard packed in the wheel and the API.

Each venv installs from pip's cache with --no-compile; about a minute for both on a busy machine.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.api.pg import free_port
from tests.packaging.conftest import REPO, fresh_venv
from tests.support.processes import stop, wait_for_nodes

FORBIDDEN = {"fastapi", "sqlalchemy", "kopf", "kubernetes-asyncio", "uvicorn", "alembic", "asyncpg"}


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OBT_")}


def test_wheel_and_sdist_carry_the_dashboard(dist_wheel: Path) -> None:
    with zipfile.ZipFile(dist_wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "obt/api/static/index.html" in names
    assert any(n.startswith("obt/api/static/_app/") for n in names)
    assert not any(n.startswith("obt/__init__") for n in names), "obt is a PEP 420 namespace"
    assert "Name: obt-fleet" in metadata
    sdist = dist_wheel.with_name(dist_wheel.name.split("-py3")[0] + ".tar.gz")
    if sdist.exists():  # `make dist` writes both; a wheel built here has its sdist next to it
        with tarfile.open(sdist) as archive:
            members = archive.getnames()
        assert any(m.endswith("api/obt/api/static/index.html") for m in members)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_agent_extra_installs_no_server_packages(dist_wheel: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv", f"{dist_wheel}[agent]")
    listed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    found = sorted(FORBIDDEN & installed)
    assert not found, f"pip install '<wheel>[agent]' installed server packages: {', '.join(found)}"
    assert "obt-fleet" in installed
    detect = subprocess.run(
        [str(bin_dir / "obt"), "agent", "detect", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=_clean_env(),
    )
    assert detect.returncode == 0, detect.stderr[-2000:]
    report = json.loads(detect.stdout)
    assert report["hardware"]["cpu"]["logicalCores"] >= 1
    # `obt nodes` / `obt models` need no server packages either (urllib only): an unreachable
    # server is their exit code 4, not an ImportError.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    for command in ("nodes", "models"):
        listed = subprocess.run(
            [str(bin_dir / "obt"), command, "--server", closed],
            capture_output=True,
            text=True,
            timeout=60,
            env=_clean_env(),
        )
        assert listed.returncode == 4, listed.stderr[-2000:]
        assert f"cannot reach the OBT API at {closed}" in listed.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_server_extra_serves_the_dashboard_from_the_wheel(dist_wheel: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv", f"{dist_wheel}[server]")
    port = free_port()
    proc = subprocess.Popen(
        [str(bin_dir / "obt"), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env={**_clean_env(), "OBT_AGENT__OLLAMA_URL": f"http://127.0.0.1:{free_port()}"},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        items = wait_for_nodes(base, proc, timeout=90)
        assert len(items) == 1, "the local agent of `obt serve` listed this machine"
        index = httpx.get(f"{base}/", timeout=10)
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        # The dashboard itself, from the wheel: not the "dashboard is not built" page.
        assert "OBT is running" not in index.text and "/_app/" in index.text
        asset = index.text.split('"/_app/', 1)[1].split('"', 1)[0]
        assert httpx.get(f"{base}/_app/{asset}", timeout=10).status_code == 200
    finally:
        out = stop(proc)
    assert "dashboard not built" not in out


# `pip install obt`, `pip install 'obt[agent]'`, `pip install -U obt` ... and "obt[agent]" as a
# requirement: PyPI's `obt` is an unrelated project.
PIP_OBT = re.compile(r"pip3?\s+install\s+(?:-\S+\s+)*['\"]?obt(?:\[|['\"]?(?:\s|$))")
REQUIREMENT_OBT = re.compile(r"['\"]obt\[(?:agent|server|dev)\]")
SHIPPED_TEXT = ("*.md", "*.py", "*.sh", "*.ps1", "*.plist", "*.service", "*.yaml", "*.toml")


def _shipped_files() -> list[Path]:
    found: list[Path] = [REPO / "pyproject.toml", REPO / "Makefile"]
    for folder in ("docs", "packaging", "images", "scripts", "charts", "core", "agent", "api"):
        for pattern in SHIPPED_TEXT:
            found += (REPO / folder).rglob(pattern)
    found += (REPO / "images").glob("*.Dockerfile")
    found += (REPO / "operator").rglob("*.py")
    return [*found, REPO / "README.md", REPO / "compose.yaml"]


def test_nothing_tells_a_user_to_pip_install_obt() -> None:
    offenders = []
    for path in _shipped_files():
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if PIP_OBT.search(line) or REQUIREMENT_OBT.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "install from the wheel or a checkout instead:\n" + "\n".join(offenders)
    assert PIP_OBT.search("pip install 'obt[agent]'") and PIP_OBT.search("pip install -U obt")
    assert not PIP_OBT.search("pip install './obt_fleet-0.1.0-py3-none-any.whl[agent]'")
