"""docs/install.md's commands are ones the chart and the CLI accept.

Every `helm install|upgrade|template` of ./charts/obt in the Helm section is rendered with the
real helm (its --set, --set-json and -f arguments; a -f file is the ```yaml block whose first line
names it), every `obt` command in the document parses (run with --help appended: unknown options
or commands fail), and the node labels that the kubectl lines list are ones the chart's profiles
select on.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.charts.conftest import CHART, NAMESPACE, REPO, run_helm

pytestmark = pytest.mark.helm

DOC = REPO / "docs" / "install.md"
OBT = REPO / ".venv" / "bin" / "obt"


def blocks(language: str, text: str) -> list[str]:
    """Fenced code blocks of one language, dedented (they may sit inside a list item)."""
    found = []
    for match in re.finditer(rf"^( *)```{language}\n(.*?)^\1```", text, re.M | re.S):
        indent = len(match.group(1))
        found.append("\n".join(line[indent:] for line in match.group(2).splitlines()))
    return found


def commands(text: str) -> list[list[str]]:
    """Shell command lines of the ```sh blocks, continuations joined, comments dropped."""
    out = []
    for block in blocks("sh", text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(shlex.split(line))
    return out


def helm_section() -> str:
    text = DOC.read_text()
    return text[text.index("## Kubernetes with Helm") : text.index("## Docker Compose")]


def values_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for block in blocks("yaml", helm_section()):
        first = block.splitlines()[0]
        if match := re.fullmatch(r"# (\S+\.yaml)", first):
            path = tmp_path / match.group(1)
            path.write_text(block)
            yaml.safe_load(block)
            files[match.group(1)] = path
    return files


def inline_chart_commands(text: str) -> list[list[str]]:
    """`helm install obt ./charts/obt ...` in running text, and `--set ...` examples (rendered as
    arguments of an install)."""
    found = []
    prose = re.sub(r"^( *)```.*?^\1```", "", text, flags=re.M | re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())
        if span.startswith("helm ") and "./charts/obt" in span:
            found.append(shlex.split(span))
        elif span.startswith("--set"):
            found.append(["helm", "install", "obt", "./charts/obt", *shlex.split(span)])
    return found


CHART_COMMANDS = [
    c for c in commands(helm_section()) if c[:1] == ["helm"] and "./charts/obt" in c
] + inline_chart_commands(helm_section())


def test_the_helm_section_installs_the_chart_several_ways() -> None:
    verbs = [c[1] for c in CHART_COMMANDS]
    assert verbs.count("install") >= 5, verbs
    assert any(
        "agent.profiles.nvidia.nodeLabels[0].key=example.com/gpu" in c for c in CHART_COMMANDS
    )


@pytest.mark.parametrize("command", CHART_COMMANDS, ids=[" ".join(c)[:80] for c in CHART_COMMANDS])
def test_every_helm_command_in_the_docs_renders(
    helm: str, command: list[str], tmp_path: Path
) -> None:
    files = values_files(tmp_path)
    args = command[command.index("./charts/obt") + 1 :]
    passed: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--set", "--set-json", "--set-string"):
            passed += [arg, args[i + 1]]
            i += 2
        elif arg in ("-f", "--values"):
            # A values file written out in the docs, or one of the repository's (the chart's
            # linted scenarios under charts/obt/ci/).
            in_repo = REPO / args[i + 1]
            assert args[i + 1] in files or in_repo.is_file(), (
                f"{args[i + 1]} is neither shown in docs/install.md nor a file in the repository"
            )
            passed += ["-f", str(files.get(args[i + 1], in_repo))]
            i += 2
        elif arg in ("-n", "--namespace"):
            i += 2
        else:
            assert arg in ("--create-namespace", "--wait"), f"unexpected argument {arg}"
            i += 1
    result = run_helm(helm, "template", "obt", str(CHART), "--namespace", NAMESPACE, *passed)
    assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr}"
    assert "kind: DaemonSet" in result.stdout


def test_the_walk_through_values_file_is_shown_and_used(tmp_path: Path) -> None:
    files = values_files(tmp_path)
    assert "gpu-cluster-values.yaml" in files
    assert any("gpu-cluster-values.yaml" in c for c in CHART_COMMANDS)


OBT_COMMANDS = [c for c in commands(DOC.read_text()) if c[:1] == ["obt"]]


@pytest.mark.parametrize("command", OBT_COMMANDS, ids=[" ".join(c)[:60] for c in OBT_COMMANDS])
def test_every_obt_command_in_the_docs_parses(command: list[str]) -> None:
    result = subprocess.run(
        [str(OBT), *command[1:], "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{shlex.join(command)}\n{result.stdout}{result.stderr}"


def test_node_labels_the_docs_list_are_the_profiles_labels() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    profile_labels = {
        label["key"]
        for profile in values["agent"]["profiles"].values()
        for label in profile.get("nodeLabels", [])
    }
    listed = []
    for command in commands(helm_section()):
        if command[:2] == ["kubectl", "get"] and "nodes" in command and "-L" in command:
            listed += command[command.index("-L") + 1].split(",")
    assert listed
    assert set(listed) <= profile_labels, set(listed) - profile_labels
