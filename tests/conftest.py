"""Shared pytest configuration: fixtures live in tests/support/."""

# pytester: tests/test_ci_guard.py runs small pytest sessions of its own.
pytest_plugins = ["tests.support.fixtures", "tests.ci_guard", "pytester"]
