"""The Dockerfiles and compose.yaml, checked as text: no Docker engine runs on the build machines,
so the images are NOT built by this suite. scripts/images/check.sh (`make images`, by hand, as
root) builds and runs them for real without a registry; docs/install.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.charts.conftest import CHART, REPO

DOCKERFILES = sorted((REPO / "images").glob("*.Dockerfile"))


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def resolved_bases(path: Path) -> list[str]:
    steps = instructions(path)
    args = {}
    for keyword, rest in steps:
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    stages: set[str] = set()
    bases = []
    for keyword, rest in steps:
        if keyword != "FROM":
            continue
        parts = rest.split()
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
        if image not in stages:
            bases.append(image)
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
    return bases


def test_both_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {"agent.Dockerfile", "server.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(dockerfile: Path) -> None:
    bases = resolved_bases(dockerfile)
    assert bases
    for image in bases:
        assert ":" in image and not image.endswith(":latest"), image
        assert re.search(r":\d+\.\d+", image), f"{image}: pin at least major.minor"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_non_root_with_healthcheck(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    froms = [rest for keyword, rest in steps if keyword == "FROM"]
    assert len(froms) >= 2, "multi-stage: build tools stay out of the runtime image"
    final = steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM") :]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) > 0, "numeric non-root USER (runAsNonRoot can verify it)"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert int(user) == values["podSecurity"]["runAsUser"]
    assert any(keyword == "HEALTHCHECK" for keyword, _ in final)
    assert ("ENTRYPOINT", '["obt"]') in final
    # The runtime stage copies the built virtualenv only, not the sources.
    assert [rest for keyword, rest in final if keyword == "COPY"] == [
        "--from=build /opt/obt /opt/obt"
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_builds_anywhere(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    # A `# syntax=` directive makes BuildKit pull that frontend image from Docker Hub first: the
    # built-in frontend covers what these files use, and they must build without a registry.
    assert not re.match(r"#\s*syntax\s*=", text, re.IGNORECASE), "drop the # syntax= line"
    # The base's Python version is the base's business (python:3.12 or a stand-in with 3.11):
    # no pythonX.Y path in a step.
    for keyword, rest in instructions(dockerfile):
        if keyword in ("RUN", "COPY", "ENV"):
            assert not re.search(r"python3\.\d+", rest), f"hard-coded Python version: {rest}"


def test_node_image_meets_the_dashboards_engines() -> None:
    (node,) = [b for b in resolved_bases(REPO / "images" / "server.Dockerfile") if "node" in b]
    tag = re.search(r":(\d+)\.(\d+)", node)
    assert tag, node
    engines = json.loads((REPO / "frontend" / "package.json").read_text())["engines"]["node"]
    minimum = re.fullmatch(r">=\s*(\d+)\.(\d+)(?:\.\d+)?", engines.strip())
    assert minimum, f"update this test for engines {engines!r}"
    have = (int(tag[1]), int(tag[2]))
    need = (int(minimum[1]), int(minimum[2]))
    assert have >= need, f"{node} is older than frontend/package.json's engines {engines}"


def test_agent_image_has_a_writable_data_dir() -> None:
    # uid 10001 has no home: without this the default state dir is /.local/state, and enrolling
    # (--enroll-token) fails to save the node token, read-only root or not.
    steps = instructions(REPO / "images" / "agent.Dockerfile")
    envs = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    assert "OBT_AGENT__DATA_DIR=/var/lib/obt-agent" in envs
    assert ("VOLUME", '["/var/lib/obt-agent"]') in steps
    assert any(
        keyword == "RUN" and "-o 10001 -g 10001" in rest and "/var/lib/obt-agent" in rest
        for keyword, rest in steps
    )


def test_agent_image_installs_only_the_agent_extra() -> None:
    runs = " ".join(
        rest for k, rest in instructions(REPO / "images" / "agent.Dockerfile") if k == "RUN"
    )
    assert "'.[agent]'" in runs and "server" not in runs


def test_server_image_bundles_the_dashboard() -> None:
    steps = instructions(REPO / "images" / "server.Dockerfile")
    runs = [rest for keyword, rest in steps if keyword == "RUN"]
    assert any("pnpm install --frozen-lockfile" in run for run in runs)
    assert any("pnpm run build" in run for run in runs)
    assert ("COPY", "frontend/package.json frontend/pnpm-lock.yaml ./") in steps
    # The image installs the pnpm that frontend/package.json pins (make uses the same pin).
    pinned = json.loads((REPO / "frontend" / "package.json").read_text())["packageManager"]
    assert ("ARG", f"PNPM_VERSION={pinned.removeprefix('pnpm@')}") in steps
    assert not (REPO / "frontend" / "package-lock.json").exists(), "pnpm-lock.yaml replaced it"
    assert ("COPY", "--from=dashboard /frontend/build/ api/obt/api/static/") in steps
    assert any("'.[server]'" in run for run in runs)


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".git", ".venv", "**/node_modules", "frontend/build", "api/obt/api/static"):
        assert path in ignored


def test_compose_runs_api_and_postgresql() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "postgres"} <= set(services)
    api = services["api"]
    assert api["build"]["dockerfile"] == "images/server.Dockerfile"
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["environment"]["OBT_DATABASE__URL"].startswith("postgresql+asyncpg://obt:")
    assert "@postgres:5432/obt" in api["environment"]["OBT_DATABASE__URL"]
    (port,) = api["ports"]
    assert port == "${OBT_API_BIND:-0.0.0.0}:${OBT_API_PORT:-8881}:8881"
    assert api["read_only"] is True and api["cap_drop"] == ["ALL"]
    assert ":latest" not in services["postgres"]["image"]
    # The agent is opt-in and mounts the host's facts read-only, as in the chart.
    agent = services["agent"]
    assert agent["profiles"] == ["agent"]
    # A stable host id: not the random container id a re-created container would get.
    assert agent["hostname"] == "${OBT_AGENT_HOST_ID:-docker-host}"
    host_paths = [volume for volume in agent["volumes"] if volume.startswith("/")]
    assert host_paths and all(volume.endswith(":ro") for volume in host_paths)
    # It enrolls with what `obt enroll-token create` prints and keeps the node token in a volume.
    assert "--token" not in agent["command"]
    assert agent["environment"]["OBT_AGENT__ENROLL_TOKEN"] == "${OBT_AGENT_ENROLL_TOKEN:-}"
    assert "agent-state:/var/lib/obt-agent" in agent["volumes"]
    assert "agent-state" in compose["volumes"]
    # Compose interpolates services of inactive profiles too: no required (`:?`) variable in the
    # opt-in agent, or a plain `docker compose up` fails.
    assert ":?" not in yaml.safe_dump(agent)
