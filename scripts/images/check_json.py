"""TEST TOOLING for scripts/images/check.sh: checks what the built images printed or served.

check_json.py detect FILE           `obt agent detect --json`: a report with CPU and memory
check_json.py nodes FILE [NAME]     GET /api/v1/nodes: a node list (holding NAME if given)
check_json.py dashboard FILE        GET /: the dashboard's index.html, not the fallback page
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def detect(path: Path) -> str:
    report = json.loads(path.read_text())
    hardware = report["hardware"]
    assert not hardware.get("errors"), f"detection errors: {hardware['errors']}"
    cpu, memory, os_ = hardware["cpu"], hardware["memory"], hardware["os"]
    assert cpu.get("logicalCores"), f"no CPU facts: {cpu}"
    assert memory.get("totalBytes"), f"no memory facts: {memory}"
    assert report["agent"]["version"], "no agent version"
    return (
        f"valid report (agent {report['agent']['version']}): {cpu.get('model')}, "
        f"{cpu['logicalCores']} threads, {memory['totalBytes'] / 2**30:.1f} GiB, "
        f"{os_.get('distro')} {os_.get('distroVersion')}, Ollama reachable: "
        f"{report['ollama']['reachable']}"
    )


def nodes(path: Path, name: str | None = None) -> str:
    body = json.loads(path.read_text())
    names = [item["name"] for item in body["items"]]
    assert body["total"] == len(names), body
    assert name is None or name in names, f"{name} not in {names}"
    return f"GET /api/v1/nodes -> total {body['total']}: {', '.join(names) or '(none)'}"


def dashboard(path: Path) -> str:
    html = path.read_text()
    assert html.lstrip().lower().startswith("<!doctype html"), "not HTML"
    assert "the dashboard is not built" not in html, "fallback page: no dashboard in the wheel"
    assert "/_app/immutable/" in html, "not the SvelteKit build"
    return f"GET / -> the dashboard's index.html ({len(html)} bytes)"


def main() -> None:
    kind, path, *rest = sys.argv[1:]
    check = {"detect": detect, "nodes": nodes, "dashboard": dashboard}[kind]
    try:
        print(check(Path(path), *rest))
    except (AssertionError, KeyError, ValueError) as error:
        sys.exit(f"FAILED: {kind} {path}: {error!r}")


if __name__ == "__main__":
    main()
