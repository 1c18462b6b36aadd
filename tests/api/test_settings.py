"""Settings: environment variables and *_FILE secrets, production refuses placeholder admin
tokens, misspelt variables are named, demo mode only where asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from obt.api.settings import ApiSettings
from obt.core.settings import SettingsError, unknown_variables, warn_unknown_variables


def test_environment_with_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBT_DATABASE__URL", "postgresql+asyncpg://u@db/obt")
    monkeypatch.setenv("OBT_API__ADMIN_TOKEN", "s3cret-admin-token-xyz")
    monkeypatch.setenv("OBT_API__CORS_ORIGINS", '["https://obt.example"]')
    s = ApiSettings()
    assert s.database.url == "postgresql+asyncpg://u@db/obt"
    assert s.api.admin_token is not None
    assert s.api.admin_token.get_secret_value() == "s3cret-admin-token-xyz"
    assert "s3cret" not in repr(s)
    assert s.api.cors_origins == ["https://obt.example"]


@pytest.mark.parametrize("token", [None, "changeme", "admin", "short"])
def test_production_refuses_placeholder_admin_token(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    monkeypatch.setenv("OBT_API__PRODUCTION", "true")
    if token is not None:
        monkeypatch.setenv("OBT_API__ADMIN_TOKEN", token)
    with pytest.raises(ValidationError, match=r"api\.admin_token"):
        ApiSettings()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_cors_allows_only_configured_origins(db_url: str) -> None:
    from tests.api.conftest import make_settings, running_api

    settings = make_settings(db_url, cors_origins=["https://dash.example"])
    async with running_api(settings) as api:
        ok = await api.client.get("/api/v1/nodes", headers={"Origin": "https://dash.example"})
        assert ok.headers["access-control-allow-origin"] == "https://dash.example"
        other = await api.client.get("/api/v1/nodes", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- secrets from files (*_FILE) ------------------------------------------------------------------


def test_a_setting_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Kubernetes mounts a Secret as a file: OBT_API__ADMIN_TOKEN_FILE names it."""
    secret = tmp_path / "admin-token"
    secret.write_text("from-a-file-0123456789\n")  # `kubectl create secret` files end so
    (tmp_path / "db-url").write_text("postgresql+asyncpg://obt:pw@db/obt")
    (tmp_path / "origins").write_text('["https://a.example", "https://b.example"]\n')
    monkeypatch.setenv("OBT_API__ADMIN_TOKEN_FILE", str(secret))
    monkeypatch.setenv("OBT_DATABASE__URL_FILE", str(tmp_path / "db-url"))
    monkeypatch.setenv("OBT_API__CORS_ORIGINS_FILE", str(tmp_path / "origins"))
    s = ApiSettings()
    assert s.api.admin_token is not None
    assert s.api.admin_token.get_secret_value() == "from-a-file-0123456789"  # one newline gone
    assert s.database.url == "postgresql+asyncpg://obt:pw@db/obt"
    assert s.api.cors_origins == ["https://a.example", "https://b.example"]


def test_an_unreadable_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    monkeypatch.setenv("OBT_API__ADMIN_TOKEN_FILE", str(missing))
    with pytest.raises(SettingsError, match=rf"OBT_API__ADMIN_TOKEN_FILE={missing}: cannot read"):
        ApiSettings()


def test_a_value_and_its_file_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "t").write_text("x" * 20)
    monkeypatch.setenv("OBT_API__ADMIN_TOKEN", "y" * 20)
    monkeypatch.setenv("OBT_API__ADMIN_TOKEN_FILE", str(tmp_path / "t"))
    with pytest.raises(
        SettingsError, match="both OBT_API__ADMIN_TOKEN and OBT_API__ADMIN_TOKEN_FILE are set"
    ):
        ApiSettings()


def test_the_agent_reads_its_tokens_from_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from obt.agent.settings import AgentSettings

    (tmp_path / "enroll").write_text("abcdef.0123456789abcdef\r\n")
    monkeypatch.setenv("OBT_AGENT__ENROLL_TOKEN_FILE", str(tmp_path / "enroll"))
    enroll = AgentSettings().agent.enroll_token
    assert enroll is not None and enroll.get_secret_value() == "abcdef.0123456789abcdef"


def test_obt_api_refuses_to_start_with_an_unreadable_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from obt.cli.main import main

    monkeypatch.setenv("OBT_API__ADMIN_TOKEN_FILE", str(tmp_path / "absent"))
    result = CliRunner().invoke(main, ["api"])
    assert result.exit_code == 1
    assert f"OBT_API__ADMIN_TOKEN_FILE={tmp_path / 'absent'}: cannot read" in result.output


# -- unknown and removed variables ----------------------------------------------------------------


def test_a_misspelt_variable_is_named_with_the_closest_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from obt.agent.settings import AgentSettings
    from obt.operator.settings import OperatorSettings

    environ = {
        "OBT_API__ADMN_TOKEN": "x",
        "OBT_DATABASE__URL": "sqlite+aiosqlite:///x",  # known
        "OBT_API__ADMIN_TOKEN_FILE": "/x",  # known: the file form
        "OBT_SERVER": "http://x",  # the CLI's, not a setting
        "OBT_E2E_PORT": "1",  # the Playwright suite's
        "PATH": "/bin",  # not ours
    }
    with caplog.at_level("WARNING", logger="obt.settings"):
        lines = warn_unknown_variables([ApiSettings], environ)
    assert lines == [
        "OBT_API__ADMN_TOKEN is not a setting of this command and is ignored; "
        "did you mean OBT_API__ADMIN_TOKEN?"
    ]
    assert caplog.messages == lines
    # Per component: the agent's names are the agent's.
    assert unknown_variables([AgentSettings], {"OBT_AGENT__OLAMA_URL": "x"}) == [
        "OBT_AGENT__OLAMA_URL is not a setting of this command and is ignored; "
        "did you mean OBT_AGENT__OLLAMA_URL?"
    ]
    assert unknown_variables(
        [OperatorSettings], {"OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECOND": "9"}
    ) == [
        "OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECOND is not a setting of this command and is ignored; "
        "did you mean OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECONDS?"
    ]
    # `obt serve` reads both the API's and the agent's settings.
    assert unknown_variables([ApiSettings, AgentSettings], {"OBT_AGENT__SERVER": "x"}) == []
    # Nothing close: no guess.
    assert unknown_variables([ApiSettings], {"OBT_ZZZZZZZZZZZZZZZZZZZZZZZZZ": "1"}) == [
        "OBT_ZZZZZZZZZZZZZZZZZZZZZZZZZ is not a setting of this command and is ignored"
    ]


def test_obt_mode_is_gone_and_says_so() -> None:
    assert "mode" not in ApiSettings.model_fields
    (line,) = unknown_variables([ApiSettings], {"OBT_MODE": "local"})
    assert line.startswith("OBT_MODE is set but it never did anything and was removed")
    assert "OBT_API__CLUSTER__ENABLED" in line


def test_the_agent_command_warns_about_a_misspelt_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """At start, through the real command (`obt agent detect`, Ollama absent on a closed port)."""
    import socket

    from click.testing import CliRunner

    from obt.cli.main import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OBT_AGENT__INTERVALL", "5")
    monkeypatch.setenv("OBT_AGENT__OLLAMA_URL", f"http://127.0.0.1:{port}")
    result = CliRunner().invoke(main, ["agent", "detect", "--json"])
    assert result.exit_code == 0, result.output
    assert "OBT_AGENT__INTERVALL is not a setting" in result.output
    assert "did you mean OBT_AGENT__INTERVAL_SECONDS?" in result.output


# -- demo mode ----------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_seed_endpoint_is_404_unless_demo_mode(db_url: str) -> None:
    from tests.api.conftest import ADMIN, make_settings, running_api

    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with running_api(make_settings(db_url, demo=False)) as api:
        r = await api.client.post("/api/v1/admin/seed", json={"count": 1}, headers=admin)
        assert r.status_code == 404
        # The rest of the admin API is still there.
        assert (await api.client.delete("/api/v1/admin/nodes/x", headers=admin)).status_code == 404
        assert (await api.client.get("/api/v1/nodes")).json()["total"] == 0
    async with running_api(make_settings(db_url, demo=True)) as api:
        r = await api.client.post("/api/v1/admin/seed", json={"count": 1}, headers=admin)
        assert r.status_code == 200 and r.json()["names"] == ["fake-00000"]


def test_demo_mode_is_off_by_default_and_refused_in_cluster_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ApiSettings(_env_file=None).api.demo is False  # type: ignore[call-arg]
    monkeypatch.setenv("OBT_API__DEMO", "true")
    monkeypatch.setenv("OBT_API__CLUSTER__ENABLED", "true")
    with pytest.raises(ValidationError, match="cannot be combined with cluster mode"):
        ApiSettings()
    # Also where settings were copied without validation (as `obt serve` does).
    from obt.api.app import create_app

    monkeypatch.delenv("OBT_API__DEMO")
    settings = ApiSettings()
    demo = settings.model_copy(update={"api": settings.api.model_copy(update={"demo": True})})
    with pytest.raises(ValueError, match="cannot be combined with cluster mode"):
        create_app(demo)
