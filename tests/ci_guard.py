"""With CI=true nothing may skip: a skipped test fails the run, naming what was missing.

On a developer's laptop without PostgreSQL, kubectl, helm or chromium the tiers that need them
skip with their reason printed in the summary (pytest -ra); in CI the same skip is an error,
because a green run that skipped its PostgreSQL or browser tier proves nothing.
"""

from __future__ import annotations

import os

import pytest


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if running_in_ci() and report.skipped:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.section("CI=true: skipped tests count as failures", sep="!", red=True)
        for line in _skipped:
            terminalreporter.write_line(line)
