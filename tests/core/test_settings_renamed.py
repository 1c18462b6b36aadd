"""Renamed settings (obt.core.settings.RENAMED): for one release the old name sets the new field
and logs one deprecation warning naming both; the new name wins when both are set; the old names
are not "unknown". Driven by the table itself, so every row is checked."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from obt.agent.settings import AgentSettings
from obt.api.settings import ApiSettings
from obt.core.settings import RENAMED, renamed_to, setting_fields, unknown_variables
from obt.operator.settings import OperatorSettings

COMPONENTS: list[type[Any]] = [AgentSettings, OperatorSettings, ApiSettings]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OBT_"):
            monkeypatch.delenv(name)


def leaf(new: str, cls: type[BaseModel]) -> str:
    """`new` itself when it is a value; for a group, its first value below it."""
    fields = setting_fields(cls)
    name = new
    while fields[name][2]:  # a group
        name = next(k for k, v in fields.items() if k.startswith(name + "__") and not v[2])
    return name


def readers(new: str) -> list[type[Any]]:
    return [cls for cls in COMPONENTS if new in setting_fields(cls)]


def other_value(cls: type[BaseModel], name: str) -> tuple[str, Any]:
    """A valid value for setting `name` that differs from its default: (text, parsed)."""
    _, info, _ = setting_fields(cls)[name]
    default = info.get_default(call_default_factory=True)
    if isinstance(default, bool):
        return str(not default).lower(), not default
    if isinstance(default, int | float):
        return str(default + 1), default + 1
    return "renamed-test-value", "renamed-test-value"


def value_at(settings: BaseModel, cls: type[BaseModel], name: str) -> Any:
    value: Any = settings
    for part in setting_fields(cls)[name][0]:
        value = getattr(value, part)
    return value


ROWS = sorted(RENAMED.items())


def test_every_new_name_is_read_and_no_old_name_is_still_a_setting() -> None:
    for old, new in ROWS:
        assert readers(new), f"{new} (renamed from {old}) is a setting of no component"
        for cls in COMPONENTS:
            assert old not in setting_fields(cls), f"{old} is still a setting of {cls.__name__}"


@pytest.mark.parametrize(("old", "new"), ROWS, ids=[old for old, _ in ROWS])
def test_the_old_name_sets_the_new_field_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, old: str, new: str
) -> None:
    for cls in readers(new):
        name = leaf(new, cls)
        old_name = old + name[len(new) :]  # the same setting under the old group's name
        text, expected = other_value(cls, name)
        monkeypatch.setenv(old_name, text)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="obt.settings"):
            settings = cls()
        assert value_at(settings, cls, name) == expected
        warnings = [r.getMessage() for r in caplog.records if r.name == "obt.settings"]
        assert warnings == [
            f"{old_name} is deprecated and will stop working in the next release: use {name}"
        ]
        assert unknown_variables([cls], {old_name: text}) == []
        monkeypatch.delenv(old_name)

        # The new name alone: no warning at all.
        monkeypatch.setenv(name, text)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="obt.settings"):
            assert value_at(cls(), cls, name) == expected
        assert [r for r in caplog.records if r.name == "obt.settings"] == []
        monkeypatch.delenv(name)


def test_both_names_set_the_new_one_wins_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OBT_API__HEARTBEAT_FLUSH_S", "7")
    monkeypatch.setenv("OBT_API__HEARTBEAT_FLUSH_SECONDS", "3")
    with caplog.at_level(logging.WARNING, logger="obt.settings"):
        settings = ApiSettings()
    assert settings.api.heartbeat_flush_seconds == 3
    assert [r.getMessage() for r in caplog.records if r.name == "obt.settings"] == [
        "OBT_API__HEARTBEAT_FLUSH_S and OBT_API__HEARTBEAT_FLUSH_SECONDS are both set: "
        "OBT_API__HEARTBEAT_FLUSH_SECONDS wins; OBT_API__HEARTBEAT_FLUSH_S is deprecated, unset it"
    ]


def test_a_renamed_group_renames_everything_below_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBT_LIVENESS__REMOVE_AFTER_SECONDS", "90")
    monkeypatch.setenv("OBT_LEADER", '{"lease_name": "from-json"}')
    settings = OperatorSettings()
    assert settings.operator.liveness.remove_after_seconds == 90
    assert settings.operator.leader.lease_name == "from-json"


def test_the_old_name_of_a_file_setting_still_reads_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "ttl").write_text("7200\n")
    monkeypatch.setenv("OBT_API__ENROLLMENT_TOKEN_TTL_S_FILE", str(tmp_path / "ttl"))
    assert ApiSettings().api.enrollment_token_ttl_seconds == 7200
    assert renamed_to("OBT_API__ENROLLMENT_TOKEN_TTL_S_FILE") == (
        "OBT_API__ENROLLMENT_TOKEN_TTL_SECONDS_FILE"
    )


def test_an_old_name_another_component_reads_is_left_to_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """OBT_KUBE__ENABLED was the API's: the operator, which has no such setting, neither takes
    nor warns about it as deprecated (its unknown-variable check names it, as before)."""
    monkeypatch.setenv("OBT_KUBE__ENABLED", "true")
    with caplog.at_level(logging.WARNING, logger="obt.settings"):
        OperatorSettings()
    assert [r for r in caplog.records if r.name == "obt.settings"] == []
    (line,) = unknown_variables([OperatorSettings], {"OBT_KUBE__ENABLED": "true"})
    assert line.startswith("OBT_KUBE__ENABLED is not a setting of this command")


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_list_every_renamed_setting() -> None:
    text = (DOCS / "settings.md").read_text()
    for old, new in ROWS:
        group = "__*" if old in ("OBT_LEADER", "OBT_LIVENESS") else ""
        assert f"| `{old}{group}` | `{new}{group}` |" in text, old


@pytest.mark.parametrize(
    ("cls", "page"),
    [(AgentSettings, "agent.md"), (OperatorSettings, "operator.md"), (ApiSettings, "api.md")],
)
def test_each_components_page_names_every_setting(cls: type[BaseModel], page: str) -> None:
    text = (DOCS / page).read_text()
    missing = [
        k for k, (_, _, group) in setting_fields(cls).items() if not group and f"`{k}`" not in text
    ]
    assert missing == [], f"docs/{page} does not list {missing}"
