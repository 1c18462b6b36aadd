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
