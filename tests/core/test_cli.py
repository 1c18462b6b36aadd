"""The `obt` command: help, version, and a clear message where an extra is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
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

    from obt.cli.enroll_token import parse_duration

    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("24h") == 86400
    assert parse_duration("7d") == 604800
    with pytest.raises(click.BadParameter, match="'soon'"):
        parse_duration("soon")
    with pytest.raises(click.BadParameter, match="positive"):
        parse_duration("0h")


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "create", "--role", "viewer"],
        ["enroll-token", "create"],
        ["token", "create"],  # deprecated: an enrollment token
        ["node", "token", "list"],
    ],
)
def test_admin_commands_without_a_token_say_where_to_get_one(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch, argv
) -> None:
    for name in ("OBT_API__ADMIN_TOKEN", "OBT_API__ADMIN_TOKEN_FILE", "OBT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, [*argv, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no token: pass --token (or set $OBT_TOKEN)" in result.output


def test_token_create_without_role_notes_the_move_to_enroll_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["token", "create", "--data-dir", str(tmp_path)])
    assert "enrollment tokens moved to `obt enroll-token`" in result.output


def test_token_create_refuses_an_unknown_role() -> None:
    result = CliRunner().invoke(main, ["token", "create", "--role", "root"])
    assert result.exit_code == 2 and "'root' is not one of" in result.output


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


def test_ages_read_like_kubectl() -> None:
    from obt.core.summary import human_duration

    cases = {
        -5: "<invalid>",
        -1: "0s",
        0: "0s",
        45: "45s",
        119: "119s",
        310: "5m10s",
        600: "10m",
        3 * 3600 + 20 * 60: "3h20m",
        30 * 3600: "30h",
        4 * 86400: "4d",
        4 * 86400 + 3 * 3600: "4d3h",
        40 * 86400: "40d",
        3 * 365 * 86400: "3y",
    }
    for seconds, text in cases.items():
        assert human_duration(seconds) == text, seconds


def test_node_table_takes_its_columns_from_the_crd() -> None:
    from obt.cli.fleet import node_columns
    from obt.core.crd import PRINTER_COLUMNS

    assert node_columns(wide=True) == [c["name"] for c in PRINTER_COLUMNS]
    assert node_columns(wide=False) == [c["name"] for c in PRINTER_COLUMNS if "priority" not in c]


def test_obt_token_reads_the_admin_token_file_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import click

    from obt.cli.client import need_token as _admin_token

    monkeypatch.delenv("OBT_TOKEN", raising=False)
    monkeypatch.delenv("OBT_API__ADMIN_TOKEN", raising=False)
    (tmp_path / "t").write_text("from-the-file\n")
    monkeypatch.setenv("OBT_API__ADMIN_TOKEN_FILE", str(tmp_path / "t"))
    assert _admin_token(None, tmp_path / "no-data-dir") == "from-the-file"
    monkeypatch.setenv("OBT_API__ADMIN_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(click.UsageError, match=r"OBT_API__ADMIN_TOKEN_FILE=.*absent: cannot read"):
        _admin_token(None, tmp_path / "no-data-dir")
