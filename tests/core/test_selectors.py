"""Label selectors read like kubectl's -l and match like the API server's."""

from __future__ import annotations

import pytest

from obt.core.models.actions import LabelSelector
from obt.core.selectors import format_selector, parse_selector, selects

LABELS = {"gpu": "h100", "zone": "a", "ssd": "true"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("gpu=h100", True),
        ("gpu==h100", True),
        ("gpu=a100", False),
        ("gpu!=a100", True),
        ("zone in (a,b)", True),
        ("zone notin (a)", False),
        ("ssd", True),
        ("!ssd", False),
        ("!spot", True),
        ("gpu=h100,zone in (b, c)", False),
        ("gpu=h100, zone in (a,b), ssd, !spot", True),
        ("nvidia.com/gpu.product=H100", False),
    ],
)
def test_parse_and_select(text: str, matches: bool) -> None:
    selector = parse_selector(text)
    assert selects(selector, LABELS) is matches
    assert selects(parse_selector(format_selector(selector)), LABELS) is matches


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("gpu=h100,,zone=a", "empty part"),
        ("zone in ()", "needs at least one value"),
        ("gpu=h 100", "'h 100' is not a label value"),
        ("=x", "is not one of"),
        ("gpu=a,gpu=b", "two values"),
    ],
)
def test_bad_selectors_name_the_bad_part(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_selector(text)


def test_no_selector_or_an_empty_one_selects_everything() -> None:
    assert selects(None, {})
    assert selects(LabelSelector(), None)
    assert format_selector(None) == ""
