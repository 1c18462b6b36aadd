"""Where the benchmark runner keeps results and looks for reusable ones (obt.agent.bench's
`ResultStore`).

- Kubernetes (DaemonSet agents): each result is an OllamaBenchmarkResult named
  `<benchmark>-<node>-<model>-<5 random chars>` (DNS-1123, at most 253 characters), labelled
  `obt.dev/benchmark`, `obt.dev/node` and `obt.dev/fingerprint` (the first 63 hex digits: a label
  value holds no more) and owned by its OllamaBenchmark (deleting the benchmark deletes its
  results; the API keeps them in SQL). `find` lists by the fingerprint label.
- HTTP (standalone agents): `GET /api/v1/agents/{name}/benchmark-results?fingerprint=...`
  answers `[{"name", "spec"}]` and `POST /api/v1/agents/{name}/benchmark-results` (`{"spec"}`)
  answers `{"name"}`, both with the node token; the API writes the custom resource (cluster) or
  its database (local mode).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from obt.core.kinds.ollamabenchmark import OLLAMABENCHMARKRESULT
from obt.core.kube import KubeClient
from obt.core.models.benchmark import OllamaBenchmark, OllamaBenchmarkResultSpec
from obt.core.names import API_VERSION, GROUP, VERSION

BENCHMARK_LABEL = f"{GROUP}/benchmark"
NODE_LABEL = f"{GROUP}/node"
FINGERPRINT_LABEL = f"{GROUP}/fingerprint"
MAX_NAME = 253
MAX_LABEL_VALUE = 63
_NOT_DNS = re.compile(r"[^a-z0-9.-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")
_ALPHABET = string.ascii_lowercase + string.digits


def label_value(text: str) -> str:
    """`text` as a label value: allowed characters, at most 63, alphanumeric at both ends."""
    value = _NOT_LABEL.sub("-", text)[:MAX_LABEL_VALUE]
    return value.strip("-._")


def fingerprint_label(fingerprint: str) -> str:
    return fingerprint[:MAX_LABEL_VALUE]


def result_name(benchmark: str, node: str, model: str, suffix: str | None = None) -> str:
    """`<benchmark>-<node>-<model>-<5 chars>` as a DNS-1123 subdomain ('llama3.1:8b' ->
    'llama3.1-8b'), the prefix cut so the whole fits 253 characters."""
    suffix = suffix or "".join(secrets.choice(_ALPHABET) for _ in range(5))
    prefix = _NOT_DNS.sub("-", f"{benchmark}-{node}-{model}".lower())
    prefix = re.sub(r"-{2,}", "-", prefix).replace(".-", "-").replace("-.", "-")
    prefix = prefix[: MAX_NAME - len(suffix) - 1].strip("-.")
    return f"{prefix}-{suffix}"


def _pairs(items: Any) -> list[tuple[str, OllamaBenchmarkResultSpec]]:
    out = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        name = (item.get("metadata") or {}).get("name") or item.get("name")
        spec = item.get("spec")
        if not name or not isinstance(spec, dict):
            continue
        out.append((str(name), OllamaBenchmarkResultSpec.model_validate(spec)))
    return out


class KubernetesResultStore:
    """OllamaBenchmarkResult objects, created by the node's agent and owned by the benchmark."""

    def __init__(self, kube: KubeClient, bench: OllamaBenchmark) -> None:
        self.kube = kube
        self.bench = bench

    async def find(self, fingerprint: str) -> list[tuple[str, OllamaBenchmarkResultSpec]]:
        listed = await self.kube.list_custom(
            GROUP,
            VERSION,
            OLLAMABENCHMARKRESULT.plural,
            label_selector=f"{FINGERPRINT_LABEL}={fingerprint_label(fingerprint)}",
        )
        return _pairs(listed.get("items"))

    async def write(self, spec: OllamaBenchmarkResultSpec) -> str:
        meta = self.bench.metadata
        metadata: dict[str, Any] = {
            "name": result_name(meta.name, spec.node, spec.model),
            "labels": {
                BENCHMARK_LABEL: label_value(meta.name),
                NODE_LABEL: label_value(spec.node),
                FINGERPRINT_LABEL: fingerprint_label(spec.fingerprint),
            },
        }
        if meta.uid:
            metadata["ownerReferences"] = [
                {
                    "apiVersion": API_VERSION,
                    "kind": "OllamaBenchmark",
                    "name": meta.name,
                    "uid": meta.uid,
                    "controller": False,
                    "blockOwnerDeletion": False,
                }
            ]
        body = {
            "apiVersion": API_VERSION,
            "kind": OLLAMABENCHMARKRESULT.kind,
            "metadata": metadata,
            "spec": spec.to_wire(),
        }
        created = await self.kube.create_custom(GROUP, VERSION, OLLAMABENCHMARKRESULT.plural, body)
        return str((created.get("metadata") or {}).get("name") or metadata["name"])


# (method, path, body) -> the answer's JSON; raises on an error answer.
ApiCall = Callable[[str, str, Any], Awaitable[Any]]


class HttpResultStore:
    """The API's benchmark-results routes of this node (standalone agents, node token)."""

    def __init__(self, call: ApiCall, node_name: str) -> None:
        self.call = call
        self.node_name = node_name

    def _path(self) -> str:
        return f"/api/v1/agents/{quote(self.node_name, safe='')}/benchmark-results"

    async def find(self, fingerprint: str) -> list[tuple[str, OllamaBenchmarkResultSpec]]:
        answer = await self.call("GET", f"{self._path()}?fingerprint={fingerprint}", None)
        if not isinstance(answer, list):
            raise ValueError(f"GET {self._path()} answered {type(answer).__name__}, not a list")
        return _pairs(answer)

    async def write(self, spec: OllamaBenchmarkResultSpec) -> str:
        answer = await self.call("POST", self._path(), {"spec": spec.to_wire()})
        if not isinstance(answer, dict) or not answer.get("name"):
            raise ValueError(f"POST {self._path()} answered no result name: {answer!r}")
        return str(answer["name"])
