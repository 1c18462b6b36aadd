"""`pip install '.[agent]'` in a fresh venv brings none of the server packages (issue 2 item 5),
and `obt agent detect --json`, `obt nodes` and `obt models` run there."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {"fastapi", "sqlalchemy", "kopf", "kubernetes-asyncio", "uvicorn", "alembic", "asyncpg"}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_agent_extra_installs_no_server_packages(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{REPO}[agent]"],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    found = sorted(FORBIDDEN & installed)
    assert not found, f"pip install '.[agent]' installed server packages: {', '.join(found)}"
    detect = subprocess.run(
        [str(venv / "bin" / "obt"), "agent", "detect", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
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
            [str(venv / "bin" / "obt"), command, "--server", closed],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 4, listed.stderr[-2000:]
        assert f"cannot reach the OBT API at {closed}" in listed.stderr
