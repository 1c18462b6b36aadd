"""The chart spells the shared names (obt.core.names) exactly as the Python code does.

The chart cannot import Python, so its rendered labels, selectors, RBAC rules and CRD names are
compared with the constants the agent, operator and API use.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obt.core import kinds
from obt.core.names import (
    AGENT_SELECTOR,
    AGENT_SELECTOR_LABELS,
    GROUP,
    OLLAMANODES,
)
from obt.operator.settings import DEFAULT_AGENT_SELECTOR
from tests.charts.conftest import CHART, RELEASE, Manifest, by_kind, one, template

pytestmark = pytest.mark.helm

Render = Callable[..., list[Manifest]]


def _selector(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split(","))


def test_operator_default_selector_is_the_shared_one() -> None:
    assert DEFAULT_AGENT_SELECTOR == AGENT_SELECTOR
    assert _selector(AGENT_SELECTOR) == AGENT_SELECTOR_LABELS


def test_every_agent_pod_carries_the_shared_agent_labels(render: Render) -> None:
    daemonsets = by_kind(render(CHART / "ci" / "mixed-values.yaml"), "DaemonSet")
    assert len(daemonsets) > 1
    for daemonset in daemonsets:
        labels = daemonset["spec"]["template"]["metadata"]["labels"]
        assert AGENT_SELECTOR_LABELS.items() <= labels.items(), daemonset["metadata"]["name"]
        selector = daemonset["spec"]["selector"]["matchLabels"]
        assert AGENT_SELECTOR_LABELS.items() <= selector.items(), daemonset["metadata"]["name"]


def test_the_charts_operator_selects_agents_by_the_shared_labels(render: Render) -> None:
    operator = one(render(), "Deployment", "operator")
    env = {
        e["name"]: e.get("value")
        for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert _selector(env["OBT_OPERATOR__AGENT_SELECTOR"]) == {
        **AGENT_SELECTOR_LABELS,
        "app.kubernetes.io/instance": RELEASE,
    }


def test_rbac_names_the_shared_group_and_plural(render: Render) -> None:
    rules = [
        rule
        for role in by_kind(render(), "ClusterRole") + by_kind(render(), "Role")
        for rule in role.get("rules", [])
        if any(group.endswith("obt.dev") for group in rule.get("apiGroups", []))
    ]
    assert rules
    plurals = {kind.plural for kind in kinds.all_kinds()}
    assert OLLAMANODES in plurals
    named = set()
    for rule in rules:
        assert rule["apiGroups"] == [GROUP]
        for resource in rule["resources"]:
            assert resource.split("/")[0] in plurals, rule
            named.add(resource.split("/")[0])
    assert {OLLAMANODES, "ollamatasks", "ollamamodelsets"} <= named


def test_the_charts_crds_are_the_registered_kinds(helm: str) -> None:
    crds = by_kind(template(helm, include_crds=True), "CustomResourceDefinition")
    assert sorted(crd["metadata"]["name"] for crd in crds) == sorted(
        kind.crd_name for kind in kinds.all_kinds()
    )
