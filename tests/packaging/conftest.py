"""The wheel under test: the one `make dist` built (OBT_TEST_DIST, set by `make test-python`), or
one built here by scripts/dist.py from the checkout and its dashboard build."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from obt.core.version import __version__

REPO = Path(__file__).resolve().parents[2]
WHEEL = f"obt_fleet-{__version__}-py3-none-any.whl"


def _dist_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("obt_dist", REPO / "scripts" / "dist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dist_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("OBT_TEST_DIST")
    if given:
        wheel = Path(given) / WHEEL
        assert wheel.is_file(), f"OBT_TEST_DIST={given} holds no {WHEEL}: run `make dist`"
        return wheel
    dashboard = REPO / "frontend" / "build"
    if not (dashboard / "index.html").is_file():
        pytest.skip("the dashboard is not built (make frontend-build), so no wheel can be built")
    wheel, _ = _dist_module().build(tmp_path_factory.mktemp("dist"), dashboard)
    assert wheel.name == WHEEL
    return Path(wheel)


def fresh_venv(where: Path, requirement: str) -> Path:
    """A new venv with `requirement` installed from pip's cache; returns its bin directory."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    bin_dir = where / ("Scripts" if sys.platform == "win32" else "bin")
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-compile", requirement],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert install.returncode == 0, f"pip install {requirement}:\n{install.stderr[-3000:]}"
    return bin_dir
