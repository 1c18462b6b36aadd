"""The `obt` command: help, version, and a clear message where an extra is missing."""

from __future__ import annotations

from click.testing import CliRunner

from obt.cli.main import SUBCOMMANDS, main
from obt.core.version import __version__


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("serve", "agent", "operator", "api", "crd", "version"):
        assert name in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_every_subcommand_has_help() -> None:
    for name in SUBCOMMANDS:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, f"obt {name} --help: {result.output}"
        assert "Usage:" in result.output


def test_unknown_subcommand_is_named() -> None:
    result = CliRunner().invoke(main, ["sever"])
    assert result.exit_code == 2
    assert "sever" in result.output


def test_token_lifetimes_parse_and_bad_ones_are_named() -> None:
    import click
    import pytest

    from obt.cli.token import parse_duration

    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("24h") == 86400
    assert parse_duration("7d") == 604800
    with pytest.raises(click.BadParameter, match="'soon'"):
        parse_duration("soon")
    with pytest.raises(click.BadParameter, match="positive"):
        parse_duration("0h")


def test_token_create_without_an_admin_token_says_where_to_get_one(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OBT_API__ADMIN_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["token", "create", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no admin token" in result.output


def test_help_joins_hosts_with_an_enrollment_token() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "obt agent --server URL --enroll-token TOKEN" in " ".join(result.output.split())
    assert "--token TOKEN" not in result.output


def test_a_missing_extra_says_how_to_install_it_without_the_pypi_name_obt() -> None:
    from obt.cli.main import _missing_extra

    result = CliRunner().invoke(_missing_extra("serve", ImportError(name="uvicorn")), [])
    assert result.exit_code == 1
    assert "uvicorn" in result.output and "[server]" in result.output
    assert f"obt_fleet-{__version__}-py3-none-any.whl[server]" in result.output
    assert "'obt[" not in result.output


def test_tls_needs_both_files_and_names_the_missing_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    for name in ("serve", "api"):
        result = CliRunner().invoke(main, [name, "--tls-cert", str(cert)])
        assert result.exit_code == 2, result.output
        assert "tls_cert is set but api.tls_key is not" in result.output
        result = CliRunner().invoke(
            main, [name, "--tls-cert", str(cert), "--tls-key", str(tmp_path / "nokey.pem")]
        )
        assert result.exit_code == 2, result.output
        assert "nokey.pem is not a readable file" in result.output


def test_tls_files_come_from_the_environment_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    env = {"OBT_API__TLS_CERT": str(cert)}
    for name in ("serve", "api"):
        result = CliRunner().invoke(main, [name], env=env)
        assert result.exit_code == 2, result.output
        assert "tls_cert is set but api.tls_key is not" in result.output
