"""Label selectors as Kubernetes reads them, over OllamaNode labels.

`parse_selector` takes kubectl's text form (`-l`), `selects` applies a `LabelSelector` the way the
API server does: every matchLabels pair and every matchExpressions requirement must hold; an empty
or absent selector selects everything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from obt.core.models.actions import LabelSelector, LabelSelectorRequirement

# A label key: optional DNS-subdomain prefix and '/', then a name of up to 63 characters.
_KEY = r"(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_KEY_RE = re.compile(rf"^{_KEY}$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")
_SET_RE = re.compile(rf"^({_KEY})\s+(in|notin)\s+\((.*)\)$")
_EQ_RE = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*(.*)$")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts]


def _value(value: str, part: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise ValueError(f"selector {part!r}: {value!r} is not a label value")
    return value


def parse_selector(text: str) -> LabelSelector:
    """'gpu=h100,zone!=b,tier in (a,b),team notin (x),ssd,!spot' -> a LabelSelector.

    Raises ValueError naming the part that is not a selector.
    """
    labels: dict[str, str] = {}
    expressions: list[LabelSelectorRequirement] = []
    if not text.strip():
        return LabelSelector()
    for part in _split(text):
        if not part:
            raise ValueError(f"selector {text!r} has an empty part (two commas?)")
        if match := _SET_RE.match(part):
            key, op, inner = match.group(1), match.group(4), match.group(5)
            values = [_value(v.strip(), part) for v in inner.split(",") if v.strip()]
            if not values:
                raise ValueError(f"selector {part!r}: {op} needs at least one value")
            operator = "In" if op == "in" else "NotIn"
            expressions.append(
                LabelSelectorRequirement(key=key, operator=operator, values=sorted(values))
            )
        elif match := _EQ_RE.match(part):
            key, op, value = match.group(1), match.group(4), match.group(5).strip()
            _value(value, part)
            if op == "!=":
                expressions.append(
                    LabelSelectorRequirement(key=key, operator="NotIn", values=[value])
                )
            elif labels.get(key, value) != value:
                raise ValueError(f"selector {text!r} asks {key} to equal two values")
            else:
                labels[key] = value
        elif part.startswith("!") and _KEY_RE.match(part[1:].strip()):
            expressions.append(
                LabelSelectorRequirement(key=part[1:].strip(), operator="DoesNotExist")
            )
        elif _KEY_RE.match(part):
            expressions.append(LabelSelectorRequirement(key=part, operator="Exists"))
        else:
            raise ValueError(
                f"selector part {part!r} is not one of key=value, key!=value, "
                "key in (a,b), key notin (a,b), key, !key"
            )
    return LabelSelector(match_labels=labels or None, match_expressions=expressions or None)


def format_selector(selector: LabelSelector | None) -> str:
    """The kubectl text form of a selector ('' selects everything)."""
    if selector is None:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for req in selector.match_expressions or []:
        values = ",".join(req.values or [])
        if req.operator == "In":
            parts.append(f"{req.key} in ({values})")
        elif req.operator == "NotIn":
            parts.append(
                f"{req.key}!={values}"
                if len(req.values or []) == 1
                else f"{req.key} notin ({values})"
            )
        elif req.operator == "Exists":
            parts.append(req.key)
        else:
            parts.append(f"!{req.key}")
    return ",".join(parts)


def selects(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    """Whether a node with `labels` is picked by `selector` (None or empty picks every node)."""
    if selector is None:
        return True
    have = labels or {}
    for key, value in (selector.match_labels or {}).items():
        if have.get(key) != value:
            return False
    for req in selector.match_expressions or []:
        present = req.key in have
        if req.operator == "In" and (not present or have[req.key] not in (req.values or [])):
            return False
        if req.operator == "NotIn" and present and have[req.key] in (req.values or []):
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True
