"""The local Ollama server: /api/version, /api/tags (installed models), /api/ps (loaded models).

An unreachable Ollama is a normal state (the server is stopped, or not installed yet): it is
reported as `reachable: false` with the error, never as a detection failure.
`expires_at` of a loaded model moves on every request that uses the model, so it goes to
/metrics only; in the object it would cause a write per chat message (docs/agent.md).
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any, ClassVar

from obt.agent.sources.base import Probe, SourceResult
from obt.core.model_names import normalize_model_name
from obt.core.models import HardwareStatus, InstalledModel, LoadedModel, OllamaStatus

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> datetime | None:
    """Ollama prints nanoseconds ('2024-06-04T14:38:31.837533514-07:00'); Python keeps micro."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", value).replace("Z", "+00:00"))
    except ValueError:
        return None


def short_digest(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.removeprefix("sha256:")[:12]


def installed_model(entry: dict[str, Any]) -> InstalledModel:
    details = entry.get("details") or {}
    return InstalledModel(
        name=normalize_model_name(str(entry.get("name") or entry.get("model"))),
        digest=short_digest(entry.get("digest")),
        size=entry.get("size"),
        modified_at=parse_time(entry.get("modified_at")),
        family=details.get("family") or None,
        parameter_size=details.get("parameter_size") or None,
        quantization_level=details.get("quantization_level") or None,
    )


def loaded_model(entry: dict[str, Any]) -> LoadedModel:
    return LoadedModel(
        name=normalize_model_name(str(entry.get("name") or entry.get("model"))),
        digest=short_digest(entry.get("digest")),
        size=entry.get("size"),
        size_vram=entry.get("size_vram"),
        context_length=entry.get("context_length"),
    )


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class OllamaSource:
    name: ClassVar[str] = "ollama"

    def applies(self, probe: Probe) -> bool:
        return True

    async def detect(self, probe: Probe, found: HardwareStatus, result: SourceResult) -> None:
        import aiohttp

        base = probe.ollama_url.rstrip("/")
        status = OllamaStatus(url=base)
        result.ollama = status
        timeout = aiohttp.ClientTimeout(total=probe.request_timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:

                async def get(path: str) -> dict[str, Any]:
                    async with session.get(base + path) as response:
                        if response.status != 200:
                            raise RuntimeError(f"GET {path} answered HTTP {response.status}")
                        data = await response.json(content_type=None)
                        if not isinstance(data, dict):
                            raise RuntimeError(f"GET {path} answered no JSON object")
                        return data

                status.version = (await get("/api/version")).get("version")
                tags = (await get("/api/tags")).get("models") or []
                running = (await get("/api/ps")).get("models") or []
        except Exception as exc:
            status.reachable = False
            status.error = describe(exc)
            result.sample("obt_ollama_up", 0)
            return
        status.reachable = True
        status.models = sorted((installed_model(m) for m in tags), key=lambda m: m.name)
        status.loaded = sorted((loaded_model(m) for m in running), key=lambda m: m.name)
        result.sample("obt_ollama_up", 1)
        result.sample("obt_ollama_models", len(status.models))
        for entry in running:
            labels = {"model": str(entry.get("name") or entry.get("model"))}
            result.sample("obt_ollama_loaded_model_vram_bytes", entry.get("size_vram"), **labels)
            expires = parse_time(entry.get("expires_at"))
            if expires:
                result.sample(
                    "obt_ollama_loaded_model_expires_timestamp_seconds",
                    expires.timestamp(),
                    **labels,
                )
