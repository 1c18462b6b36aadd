"""Build the wheel and the sdist of obt-fleet, with the built dashboard inside (`make dist`).

    python scripts/dist.py [--out dist] [--dashboard frontend/build]

The sources are staged in a temporary directory with the dashboard's static build copied to
api/obt/api/static, and built there with `python -m build --no-isolation` (hatchling and build come
with the dev extra, so no network is needed). Staging keeps the checkout clean: a copy of the
dashboard under api/obt/api/static would otherwise shadow frontend/build in an editable install
(obt.api.static.find_dashboard looks there first) and serve a stale dashboard after the next
`make frontend-build`.

Exit status 1, naming what is missing, when the dashboard is not built or the built wheel lacks it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What pyproject's wheel and sdist targets read; nothing else is copied.
SOURCES = ("pyproject.toml", "README.md", "core", "agent", "operator", "api", "crds")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "static", ".mypy_cache")
DASHBOARD_IN_WHEEL = "obt/api/static/index.html"


def build(out: Path, dashboard: Path) -> tuple[Path, Path]:
    """Build into `out`; return (wheel, sdist)."""
    if not (dashboard / "index.html").is_file():
        raise SystemExit(
            f"dist: no dashboard build in {dashboard} (index.html missing); "
            "run `make frontend-build` first"
        )
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="obt-dist-") as tmp:
        stage = Path(tmp) / "src"
        stage.mkdir()
        for name in SOURCES:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, stage / name, ignore=IGNORE)
            else:
                shutil.copy2(source, stage / name)
        shutil.copytree(dashboard, stage / "api" / "obt" / "api" / "static")
        built = Path(tmp) / "out"
        subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(built), str(stage)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wheel = _one(built, "*.whl")
        sdist = _one(built, "*.tar.gz")
        with zipfile.ZipFile(wheel) as archive:
            if DASHBOARD_IN_WHEEL not in archive.namelist():
                raise SystemExit(f"dist: {wheel.name} lacks {DASHBOARD_IN_WHEEL}")
        results = []
        for path in (wheel, sdist):
            target = out / path.name
            target.unlink(missing_ok=True)
            shutil.move(str(path), target)
            results.append(target)
    return results[0], results[1]


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"dist: expected one {pattern} in {folder}, found {len(found)}")
    return found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder")
    parser.add_argument(
        "--dashboard",
        type=Path,
        default=REPO / "frontend" / "build",
        help="the dashboard's static build (default frontend/build)",
    )
    args = parser.parse_args()
    wheel, sdist = build(args.out.resolve(), args.dashboard.resolve())
    print(wheel)
    print(sdist)


if __name__ == "__main__":
    main()
