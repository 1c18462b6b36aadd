"""CRD structural schemas: defaulting, pruning and validation, plus the OpenAPI documents.

Mirrors https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
("Validation", "Defaulting", "Field pruning") and the server-side field validation of
https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
(fieldValidation=Strict -> error, Warn (the default) -> `Warning` header, Ignore -> silent).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import jsonschema

from tests.support.kube_resources import ResourceInfo

ROOT_KEEP = ("apiVersion", "kind", "metadata")


def _to_jsonschema(schema: Any) -> Any:
    """OpenAPI v3 structural schema -> JSON Schema draft 4 (nullable, int-or-string)."""
    if isinstance(schema, list):
        return [_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in ("format", "default", "example"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_jsonschema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "anyOf", "oneOf", "allOf"):
            out[key] = _to_jsonschema(value)
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    return out


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _cause(error: jsonschema.ValidationError) -> dict[str, str]:
    """Shape one schema error like k8s.io/apiextensions-apiserver/pkg/apiserver/validation."""
    where = _path(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        field = f"{where}.{missing}" if where else missing
        return {"reason": "FieldValueRequired", "field": field, "message": "Required value"}
    value = json.dumps(error.instance)
    if error.validator == "enum":
        supported = ", ".join(json.dumps(v) for v in error.validator_value)
        message = f"Unsupported value: {value}: supported values: {supported}"
        return {"reason": "FieldValueNotSupported", "field": where, "message": message}
    if error.validator == "type":
        detail = f"{where} in body must be of type {error.validator_value}: {value}"
    else:
        detail = f"{where} in body {error.message}"
    return {
        "reason": "FieldValueInvalid",
        "field": where,
        "message": f"Invalid value: {value}: {detail}",
    }


def validate(info: ResourceInfo, obj: dict[str, Any]) -> list[dict[str, str]]:
    """Return Status causes; an empty list means valid."""
    if not info.schema:
        return []
    schema = _to_jsonschema(info.schema)
    # metadata is validated by the server's ObjectMeta rules, not by the CRD schema.
    body = {k: v for k, v in obj.items() if k != "metadata"}
    schema.get("properties", {}).pop("metadata", None)
    validator = jsonschema.Draft4Validator(schema)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    return [_cause(e) for e in errors]


def apply_defaults(schema: dict[str, Any] | None, value: Any) -> Any:
    if not schema or not isinstance(value, (dict, list)):
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in props:
                    value[key] = apply_defaults(extra, value[key])
    elif isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def prune(schema: dict[str, Any] | None, value: Any, path: str, unknown: list[str]) -> Any:
    """Drop fields the structural schema does not declare, recording their paths."""
    if not schema or schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict) and schema.get("x-kubernetes-embedded-resource"):
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, sub_value in value.items():
            sub_path = f"{path}.{key}" if path else key
            if not path and key in ROOT_KEEP:
                # apiVersion, kind and ObjectMeta are the server's, not the CRD schema's.
                out[key] = sub_value
            elif key in props:
                out[key] = prune(props[key], sub_value, sub_path, unknown)
            elif isinstance(extra, dict):
                out[key] = prune(extra, sub_value, sub_path, unknown)
            elif extra is True:
                out[key] = sub_value
            else:
                unknown.append(sub_path)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], v, f"{path}[{n}]", unknown) for n, v in enumerate(value)]
    return value


# OpenAPI ---------------------------------------------------------------------------------------


def _gvk(info: ResourceInfo) -> list[dict[str, str]]:
    return [{"group": info.group, "version": info.version, "kind": info.kind}]


def _definition_name(info: ResourceInfo) -> str:
    group = ".".join(reversed(info.group.split("."))) if info.group else "io.k8s.api.core"
    return f"{group}.{info.version}.{info.kind}"


def _resource_path(info: ResourceInfo) -> str:
    prefix = f"/apis/{info.group}/{info.version}" if info.group else "/api/v1"
    ns = "/namespaces/{namespace}" if info.namespaced else ""
    return f"{prefix}{ns}/{info.plural}/{{name}}"


def openapi_v3_document(infos: list[ResourceInfo], group_version: str) -> dict[str, Any]:
    """One group-version document. kubectl reads `x-kubernetes-group-version-kind` on the PATCH
    operation to learn that the server validates fields itself (fieldValidation param) and which
    patch types it takes (no strategic merge for custom resources)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for info in infos:
        # No strategic-merge-patch here: for built-ins it would make kubectl look for their full
        # schemas in this document (we publish none); it then uses its compiled-in types instead.
        content_types = [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ]
        ref = f"#/components/schemas/{_definition_name(info)}"
        params = [
            {"name": n, "in": "query", "schema": {"type": "string"}}
            for n in ("dryRun", "fieldManager", "fieldValidation")
        ]
        patch_op = {
            "operationId": f"patch{info.kind}",
            "parameters": params,
            "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in content_types}},
            "responses": {"200": {"content": {"application/json": {"schema": {"$ref": ref}}}}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": _gvk(info)[0],
        }
        paths[_resource_path(info)] = {"patch": patch_op}
        body = copy.deepcopy(info.schema) if info.schema else {"type": "object"}
        if info.schema is None:
            body["x-kubernetes-preserve-unknown-fields"] = True
        body["x-kubernetes-group-version-kind"] = _gvk(info)
        schemas[_definition_name(info)] = body
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def openapi_v3_index(group_versions: dict[str, list[ResourceInfo]]) -> dict[str, Any]:
    out = {}
    for gv, infos in sorted(group_versions.items()):
        path = f"apis/{gv}" if "/" in gv else f"api/{gv}"
        digest = hashlib.sha256(
            json.dumps(openapi_v3_document(infos, gv), sort_keys=True).encode()
        ).hexdigest()[:32]
        out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
    return {"paths": out}


def openapi_v2_document(infos: list[ResourceInfo]) -> dict[str, Any]:
    definitions = {}
    for info in infos:
        if info.is_custom and info.schema:
            body = copy.deepcopy(info.schema)
            body["x-kubernetes-group-version-kind"] = _gvk(info)
            definitions[_definition_name(info)] = body
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": {},
        "definitions": definitions,
    }
