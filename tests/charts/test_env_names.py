"""Every OBT_* variable the chart gives a container is one its component reads: the component
would warn about it at start otherwise (obt.core.settings.unknown_variables), none is a renamed
setting's old name (obt.core.settings.RENAMED), and `OBT_MODE` (which did nothing) is gone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from obt.core.settings import renamed_to, unknown_variables
from tests.charts.conftest import Manifest

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "charts" / "obt" / "ci").glob("*.yaml"))


def _settings(command: list[str]) -> list[type]:
    from obt.agent.settings import AgentSettings
    from obt.api.settings import ApiSettings
    from obt.operator.settings import OperatorSettings

    component = {"agent": AgentSettings, "api": ApiSettings, "operator": OperatorSettings}
    return [component[word] for word in command if word in component][:1]


@pytest.mark.parametrize("scenario", [None, *SCENARIOS], ids=lambda s: s.name if s else "default")
def test_the_chart_sets_only_variables_its_components_read(
    render: Callable[..., list[Manifest]], scenario: Path | None
) -> None:
    checked = 0
    for manifest in render(scenario):
        pod = (manifest.get("spec") or {}).get("template", {}).get("spec")
        for container in (pod or {}).get("containers", []):
            settings = _settings([*container.get("command", []), *container.get("args", [])])
            if not settings:
                continue
            env = {e["name"]: "x" for e in container.get("env", []) if e["name"].startswith("OBT_")}
            assert unknown_variables(settings, env) == [], (manifest["kind"], container["name"])
            # Old names still work (with a warning) but the chart uses the current ones.
            assert [n for n in env if renamed_to(n)] == [], (manifest["kind"], container["name"])
            checked += 1
    assert checked >= 1
