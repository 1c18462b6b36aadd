"""The patch formats kube-apiserver accepts (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go).

- JSON merge patch, RFC 7386 (`application/merge-patch+json`).
- JSON patch, RFC 6902 (`application/json-patch+json`); a failed `test` or a missing path is an
  error that the server answers 422 (patch.go: NewGenericServerResponse(StatusUnprocessableEntity)).
- Strategic merge patch, simplified: maps merge, lists of objects merge by their Kubernetes merge
  key where one is known, `$patch` / `$setElementOrder` / `$retainKeys` / `$deleteFromPrimitiveList`
  directives are honoured or dropped. Custom resources never get here (415).
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied: 422 Invalid."""


class PatchDecodeError(ValueError):
    """A patch that cannot be parsed: 400 BadRequest."""


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _parts(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    return [_unescape(p) for p in pointer[1:].split("/")]


def _resolve(doc: Any, parts: list[str], pointer: str) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise PatchError(f"doc is missing path: {pointer!r}")
    return cur


def _add(doc: Any, parts: list[str], value: Any, pointer: str) -> Any:
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1], pointer)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"add operation does not apply: doc is missing path: {pointer!r}")
    else:
        raise PatchError(f"add operation does not apply: doc is missing path: {pointer!r}")
    return doc


def _remove(doc: Any, parts: list[str], pointer: str) -> Any:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(doc, parts[:-1], pointer)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError(f"remove operation does not apply: doc is missing path: {pointer!r}")


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchDecodeError("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchDecodeError(f"invalid json patch operation: {op!r}")
        kind, pointer = op["op"], op["path"]
        parts = _parts(pointer)
        if kind == "test":
            if _resolve(doc, parts, pointer) != op.get("value"):
                # evanphx/json-patch wording, as returned by kube-apiserver.
                raise PatchError(f"testing value {pointer} failed: test failed")
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), pointer)
        elif kind == "remove":
            _remove(doc, parts, pointer)
        elif kind == "replace":
            _resolve(doc, parts, pointer)
            if not parts:
                doc = copy.deepcopy(op.get("value"))
            else:
                _remove(doc, parts, pointer)
                doc = _add(doc, parts, copy.deepcopy(op.get("value")), pointer)
        elif kind in ("move", "copy"):
            source = op.get("from", "")
            value = copy.deepcopy(_resolve(doc, _parts(source), source))
            if kind == "move":
                _remove(doc, _parts(source), source)
            doc = _add(doc, parts, value, pointer)
        else:
            raise PatchDecodeError(f"unexpected json patch operation {kind!r}")
    return doc


# patchMergeKey of the list fields our objects and the Helm chart use (k8s.io/api types.go tags).
MERGE_KEYS = {
    "conditions": "type",
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "tolerations": "key",
    "addresses": "type",
    "ownerReferences": "uid",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target)
    for key, value in patch.items():
        if key.startswith(("$setElementOrder/", "$deleteFromPrimitiveList/")) or key in (
            "$retainKeys",
            "$patch",
        ):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            merged = strategic_merge_patch(result[key], value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(current: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    if not all(isinstance(i, dict) and merge_key in i for i in current + patch):
        return copy.deepcopy(patch)
    out = [copy.deepcopy(i) for i in current]
    for item in patch:
        index = next((n for n, c in enumerate(out) if c[merge_key] == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                out.pop(index)
        elif index is None:
            out.append(copy.deepcopy(item))
        else:
            out[index] = strategic_merge_patch(out[index], item)
    return out
