"""Settings: environment variables, production refuses placeholder admin tokens."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from obt.api.settings import ApiSettings


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
