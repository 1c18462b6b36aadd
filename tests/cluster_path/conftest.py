"""The real helm binary (tests/charts' fixture) for the kind script's chart check."""

from tests.charts.conftest import helm  # noqa: F401
