"""tests/ci_guard.py: under CI=true a skip of any kind fails the run; without CI it is loud.

Each case runs a small pytest session of its own (pytester, in this process) with only the guard
loaded, so what it proves does not depend on what this machine has installed.
"""

from __future__ import annotations

import pytest

RUNTIME_SKIP = """
import pytest

def test_passes():
    assert True

def test_needs_postgres():
    pytest.skip("no PostgreSQL on PATH")
"""

MODULE_SKIP = """
import pytest

pytest.skip("no chromium here", allow_module_level=True)

def test_never_collected():
    assert False
"""

IMPORTORSKIP = """
import pytest

pytest.importorskip("obt_ci_guard_no_such_module")

def test_never_collected():
    assert False
"""

SKIP_MARK = """
import pytest

pytestmark = pytest.mark.skipif(True, reason="helm is missing")

def test_marked():
    assert False
"""

CASES = {
    "runtime skip": (RUNTIME_SKIP, "test_needs_postgres: no PostgreSQL on PATH"),
    "module-level pytest.skip": (MODULE_SKIP, "(at collection): no chromium here"),
    "module-level importorskip": (
        IMPORTORSKIP,
        "(at collection): could not import 'obt_ci_guard_no_such_module'",
    ),
    "skipif mark": (SKIP_MARK, "test_marked: helm is missing"),
}


def _run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_sample=source)
    return pytester.runpytest("-p", "tests.ci_guard", "-p", "no:cacheprovider", "-p", "no:asyncio")


@pytest.mark.parametrize("case", list(CASES))
def test_a_skip_fails_the_run_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    source, named = CASES[case]
    monkeypatch.setenv("CI", "true")
    result = _run(pytester, source)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*CI=true: skipped tests count as failures*"])
    assert named in result.stdout.str()


@pytest.mark.parametrize("case", list(CASES))
def test_without_ci_a_skip_passes_with_a_loud_message(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    source, named = CASES[case]
    monkeypatch.delenv("CI", raising=False)
    result = _run(pytester, source)
    # A file skipped whole leaves nothing to run: pytest's own "no tests collected" code, not a failure.
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    result.stdout.fnmatch_lines(
        ["*1 SKIPPED: green here, but with CI=true each skip below fails the run*"]
    )
    assert named in result.stdout.str()


def test_a_run_without_skips_passes_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = _run(pytester, "def test_ok():\n    assert True\n")
    assert result.ret == pytest.ExitCode.OK
    assert "SKIPPED" not in result.stdout.str()
    assert "count as failures" not in result.stdout.str()
