"""With CI=true nothing may skip: a skipped test fails the run, naming what was missing.

On a developer's laptop without PostgreSQL, kubectl, helm or chromium the tiers that need them
skip with their reason, and the end of the run says loudly that CI would fail on them; in CI the
same skip is an error, because a green run that skipped its PostgreSQL or browser tier proves
nothing.

Two kinds of skip are caught:
- at run time: `pytest.skip()` in a test or fixture, and skip/skipif marks (pytest evaluates those
  when it sets the test up);
- at collection time: a module-level `pytest.skip(..., allow_module_level=True)` or
  `pytest.importorskip(...)`, which skip a whole file before any test in it exists (no test report
  is ever written for them, so a guard that only counted test reports would let them through).

Tests of this guard: tests/test_ci_guard.py.
"""

from __future__ import annotations

import os

import pytest


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def _reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class CiGuard:
    """One per pytest run (registered in pytest_configure), so runs inside runs keep apart."""

    def __init__(self) -> None:
        self.skips: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self.skips.append(
                f"{report.nodeid or '<collection>'} (at collection): {_reason(report)}"
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skips.append(f"{report.nodeid}: {_reason(report)}")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.skips and running_in_ci():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skips:
            return
        if running_in_ci():
            terminalreporter.section("CI=true: skipped tests count as failures", sep="!", red=True)
        else:
            terminalreporter.section(
                f"{len(self.skips)} SKIPPED: green here, but with CI=true each skip below fails the run",
                sep="!",
                yellow=True,
                bold=True,
            )
        for line in self.skips:
            terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(CiGuard(), "obt-ci-guard")
