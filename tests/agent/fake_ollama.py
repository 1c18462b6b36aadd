"""A small fake Ollama server (127.0.0.1, random port) with realistic /api payloads.

`POST /api/generate` (load, unload, and generation with Ollama's counters for benchmarks) is
tests/agent/fake_ollama_generate.py, reached through `self.gen`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.agent.fake_ollama_generate import GenerateFake

LLAMA = {
    "name": "llama3.1:8b",
    "model": "llama3.1:8b",
    "modified_at": "2024-08-01T12:00:00.123456789-07:00",
    "size": 4920753328,
    "digest": "46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e",
    "details": {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "8.0B",
        "quantization_level": "Q4_K_M",
    },
}
QWEN = {
    "name": "qwen2.5:0.5b",
    "model": "qwen2.5:0.5b",
    "modified_at": "2024-10-02T09:30:00.5Z",
    "size": 397821319,
    "digest": "a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67",
    "details": {
        "parent_model": "",
        "format": "gguf",
        "family": "qwen2",
        "families": ["qwen2"],
        "parameter_size": "494.03M",
        "quantization_level": "Q4_K_M",
    },
}


class FakeOllama:
    def __init__(self) -> None:
        self.version = "0.5.7"
        self.models: list[dict[str, Any]] = [LLAMA]
        self.loaded: list[dict[str, Any]] = []
        self.requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._expiry = 0
        self.gen = GenerateFake()

    def pull(self, model: dict[str, Any]) -> None:
        self.models.append(model)

    def load(self, model: dict[str, Any], size_vram: int = 6654289920) -> None:
        self.loaded.append(
            {**model, "size": size_vram, "size_vram": size_vram, "context_length": 4096}
        )

    def unload(self) -> None:
        self.loaded.clear()

    async def start(self) -> FakeOllama:
        app = web.Application()
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/generate", self._generate)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _version(self, _: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response({"version": self.version})

    async def _tags(self, _: web.Request) -> web.Response:
        return web.json_response({"models": self.models})

    async def _ps(self, _: web.Request) -> web.Response:
        # Ollama extends expires_at on every use: it must not cause writes.
        self._expiry += 1
        stamp = f"2024-06-04T14:{self._expiry % 60:02d}:31.837533514-07:00"
        return web.json_response({"models": [{"expires_at": stamp, **m} for m in self.loaded]})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        return await self.gen.handle(self, request)
