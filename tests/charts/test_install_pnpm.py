"""scripts/install-pnpm.sh: make's way of getting the pinned pnpm (frontend/package.json's
"packageManager") into .tools/bin without root or a global install."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.charts.conftest import REPO

PNPM = REPO / ".tools" / "bin" / "pnpm"
PINNED = json.loads((REPO / "frontend" / "package.json").read_text())["packageManager"]


def test_the_pin_is_an_exact_pnpm_version() -> None:
    name, _, version = PINNED.partition("@")
    assert name == "pnpm"
    assert version.count(".") == 2 and version.replace(".", "").isdigit(), PINNED


def test_a_second_run_reaches_for_no_registry(tmp_path: Path) -> None:
    if not PNPM.exists():
        pytest.skip("no .tools/bin/pnpm: `make frontend-deps` installs it")
    # Only what the script needs when pnpm is already there: no npm on this PATH.
    (tmp_path / "bin").mkdir()
    for tool in ("bash", "sed", "dirname", "node"):
        (tmp_path / "bin" / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-pnpm.sh")],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(tmp_path / "bin")},
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip() == f"pnpm already installed: {PNPM} ({PINNED.removeprefix('pnpm@')})"
    )
