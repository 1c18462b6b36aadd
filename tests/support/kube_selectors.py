"""Label and field selectors, parsed as apimachinery parses them.

Label selector grammar: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
(=, ==, !=, in, notin, exists `key`, !exists `!key`). Field selectors:
https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/ (=, ==, != only).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


class SelectorError(ValueError):
    """A malformed selector: kube-apiserver answers 400 BadRequest."""


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b` -> [`a in (x,y)`, `b`]."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


_SET_RE = re.compile(r"^([A-Za-z0-9./_-]+)\s+(in|notin)\s*\(([^)]*)\)$")
_CMP_RE = re.compile(r"^([A-Za-z0-9./_-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)$")
_KEY_RE = re.compile(r"^(!?)\s*([A-Za-z0-9./_-]+)$")


def parse_label_selector(text: str | None) -> Predicate:
    """Return a predicate on labels (a dict); an empty selector matches everything."""
    if not text:
        return lambda _labels: True
    tests: list[Predicate] = []
    for part in _split_top_level(text):
        if m := _SET_RE.match(part):
            key, op, raw = m.groups()
            values = {v.strip() for v in raw.split(",") if v.strip()}
            if op == "in":
                tests.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                # notin also matches objects without the key (apimachinery labels.NotIn).
                tests.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif m := _CMP_RE.match(part):
            key, op, value = m.groups()
            if op == "!=":
                tests.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                tests.append(lambda lb, k=key, v=value: k in lb and lb[k] == v)
        elif m := _KEY_RE.match(part):
            negate, key = m.groups()
            if negate:
                tests.append(lambda lb, k=key: k not in lb)
            else:
                tests.append(lambda lb, k=key: k in lb)
        else:
            raise SelectorError(f"unable to parse requirement: {part!r}")
    return lambda labels: all(t(labels) for t in tests)


def field_value(obj: dict[str, Any], path: str) -> str:
    """Field selectors compare string forms; a missing field is the empty string."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None, allowed: set[str]) -> Predicate:
    """Return a predicate on whole objects; unsupported field labels raise SelectorError."""
    if not text:
        return lambda _obj: True
    tests: list[Predicate] = []
    for part in _split_top_level(text):
        m = re.match(r"^([A-Za-z0-9._-]+)\s*(==|!=|=)\s*(.*)$", part)
        if not m:
            raise SelectorError(f"invalid selector: {part!r}")
        key, op, value = m.groups()
        if key not in allowed:
            # Same wording as kube-apiserver: `field label not supported: spec.foo`.
            raise SelectorError(f"field label not supported: {key}")
        if op == "!=":
            tests.append(lambda o, k=key, v=value: field_value(o, k) != v)
        else:
            tests.append(lambda o, k=key, v=value: field_value(o, k) == v)
    return lambda obj: all(t(obj) for t in tests)
