"""Shared pytest configuration: fixtures live in tests/support/."""

pytest_plugins = ["tests.support.fixtures", "tests.ci_guard"]
