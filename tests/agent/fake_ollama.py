"""A small fake Ollama server (127.0.0.1, random port) with realistic /api payloads.

Besides what the agent reads (/api/version, /api/tags, /api/ps) it does what the agent asks:
- `POST /api/pull` streams NDJSON as Ollama does (`pulling manifest`, `pulling <12 hex>` lines with
  digest/total/completed per layer, `verifying sha256 digest`, `writing manifest`, `success`, or an
  `{"error": ...}` line) from a fake registry (`publish`), instantly by default (`delay` per
  progress line otherwise). Failures are queued per model (`fail_next`): an error line, a dropped
  connection halfway (the bytes already received are kept, so the retry resumes, as Ollama keeps
  partial blobs) or an HTTP 500. `hold(model)` stops a pull halfway until `release(model)`.
- `DELETE /api/delete`, and `POST /api/generate`: an empty prompt loads (`keep_alive: 0`
  unloads), which changes /api/ps; a prompt generates with Ollama's counters for benchmarks
  (tests/agent/fake_ollama_generate.py, reached through `self.gen`).
- `log`: every request (method, path, JSON body), for tests.

Also a separate process: `python -m tests.agent.fake_ollama --port 11434 [--publish NAME=BYTES]`
prints its URL and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from obt.core.model_names import normalize_model_name
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


@dataclass
class Published:
    """A model the fake registry serves: its layers (digest, bytes) and its manifest digest."""

    name: str
    layers: list[tuple[str, int]]
    digest: str
    details: dict[str, Any]

    @property
    def size(self) -> int:
        return sum(size for _, size in self.layers)

    def entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": datetime.now(timezone.utc).isoformat(),
            "size": self.size,
            "digest": self.digest,
            "details": self.details,
        }


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def published(
    name: str, size: int = 2_000_000_000, digest: str | None = None, family: str = "llama"
) -> Published:
    """A registry model of about `size` bytes: a weights layer and three small ones (license,
    template, params), as Ollama models are."""
    name = normalize_model_name(name)
    small = [
        (f"sha256:{sha(name + part)}", n) for part, n in (("l", 12403), ("t", 254), ("p", 110))
    ]
    layers = [(f"sha256:{sha(name + 'w')}", max(1, size - sum(n for _, n in small))), *small]
    details = {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": "1B",
        "quantization_level": "Q4_K_M",
    }
    return Published(name, layers, digest or sha(name + "manifest"), details)


@dataclass
class Request:
    method: str
    path: str
    body: dict[str, Any]


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
        self.registry: dict[str, Published] = {}
        for entry in (LLAMA, QWEN):
            model = published(
                entry["name"], entry["size"], entry["digest"], entry["details"]["family"]
            )
            self.registry[model.name] = model
        self.log: list[Request] = []
        self.delay = 0.0  # seconds per progress line of a pull (0: instant)
        self.chunks = 4  # progress lines per big layer
        self.failures: dict[
            str, list[str]
        ] = {}  # model -> queued "error:TEXT" | "drop" | "http500"
        self.partial: dict[str, int] = {}  # layer digest -> bytes kept from an interrupted pull
        self.held: set[str] = set()
        self._gates: dict[str, asyncio.Event] = {}
        self.pulls_active = 0
        self.pulls_max = 0  # most pulls streaming at once
        self.pulls_aborted = 0  # pulls whose client went away before the end

    def pull(self, model: dict[str, Any]) -> None:
        self.models.append(model)

    def load(self, model: dict[str, Any], size_vram: int = 6654289920) -> None:
        self.loaded.append(
            {**model, "size": size_vram, "size_vram": size_vram, "context_length": 4096}
        )

    def unload(self) -> None:
        self.loaded.clear()

    # Test controls (call them on the server's loop) --------------------------------------------

    def publish(self, name: str, size: int = 2_000_000_000, digest: str | None = None) -> Published:
        """Put a model on the fake registry (replacing one of that name: a new digest)."""
        model = published(name, size, digest)
        self.registry[model.name] = model
        return model

    def fail_next(self, model: str, *failures: str) -> None:
        """Queue failures for the next pulls of `model`: 'error:TEXT' (an error line after the
        manifest), 'drop' (the connection closes halfway through the weights), 'http500'."""
        self.failures.setdefault(normalize_model_name(model), []).extend(failures)

    def hold(self, model: str) -> None:
        """Pulls of `model` stop halfway through the weights until `release(model)`."""
        self.held.add(normalize_model_name(model))

    def release(self, model: str) -> None:
        name = normalize_model_name(model)
        self.held.discard(name)
        gate = self._gates.pop(name, None)
        if gate is not None:
            gate.set()

    def installed(self) -> dict[str, str]:
        return {str(m["name"]): str(m["digest"]) for m in self.models}

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.log if r.method == method and r.path == path]

    async def start(self, port: int = 0) -> FakeOllama:
        app = web.Application()
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/pull", self._pull)
        app.router.add_delete("/api/delete", self._delete)
        app.router.add_post("/api/generate", self._generate)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
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

    # Acting ------------------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        self.log.append(Request(request.method, request.path, body))
        return body

    def _name(self, body: dict[str, Any]) -> str:
        return normalize_model_name(str(body.get("model") or body.get("name") or ""))

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        name = self._name(body)
        queued = self.failures.get(name) or []
        failure = queued.pop(0) if queued else None
        if failure == "http500":
            return web.json_response(
                {"error": "an error was encountered while running the model"}, status=500
            )
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        self.pulls_active += 1
        self.pulls_max = max(self.pulls_max, self.pulls_active)
        finished = False
        try:
            await self._line(response, {"status": "pulling manifest"})
            model = self.registry.get(name)
            if model is None:
                await self._line(response, {"error": "pull model manifest: file does not exist"})
                finished = True
                return response
            if failure and failure.startswith("error:"):
                await self._line(response, {"error": failure.removeprefix("error:")})
                finished = True
                return response
            for index, (digest, total) in enumerate(model.layers):
                done = total if digest in self._blobs() else self.partial.get(digest, 0)
                status = f"pulling {digest[7:19]}"
                await self._line(response, self._layer(status, digest, total, done))
                if index > 0:  # the small layers come in one line
                    if done < total:
                        done = total
                        await self._line(response, self._layer(status, digest, total, done))
                    continue
                step = max(1, total // self.chunks)
                while done < total // 2:
                    done = min(total // 2, done + step)
                    self.partial[digest] = done
                    await self._line(response, self._layer(status, digest, total, done))
                if done < total:  # halfway through the weights
                    if failure == "drop":
                        if request.transport is not None:
                            request.transport.close()  # the connection drops mid-stream
                        finished = True
                        return response
                    if name in self.held and not await self._wait_release(name, request):
                        return response  # the client went away while held (a cancel)
                while done < total:
                    done = min(total, done + step)
                    self.partial[digest] = done
                    await self._line(response, self._layer(status, digest, total, done))
            for status in ("verifying sha256 digest", "writing manifest"):
                await self._line(response, {"status": status})
            # Installed before "success" is said, as Ollama writes the manifest first.
            self.models = [m for m in self.models if m["name"] != name] + [model.entry()]
            for digest, _ in model.layers:
                self.partial.pop(digest, None)
            await self._line(response, {"status": "success"})
            finished = True
            return response
        except ConnectionResetError:
            return response  # the client went away (a cancel): Ollama stops the download
        finally:
            self.pulls_active -= 1
            if not finished:
                self.pulls_aborted += 1

    async def _wait_release(self, name: str, request: web.Request) -> bool:
        """Wait for release(name); False when the client closed the connection meanwhile."""
        gate = self._gates.setdefault(name, asyncio.Event())
        while not gate.is_set():
            if request.transport is None or request.transport.is_closing():
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(gate.wait(), 0.05)
        return True

    @staticmethod
    def _layer(status: str, digest: str, total: int, done: int) -> dict[str, Any]:
        return {"status": status, "digest": digest, "total": total, "completed": done}

    def _blobs(self) -> set[str]:
        """Layer digests of installed models (a shared layer is not fetched twice)."""
        out: set[str] = set()
        for entry in self.models:
            model = self.registry.get(str(entry["name"]))
            if model is not None and model.digest == entry["digest"]:
                out.update(d for d, _ in model.layers)
        return out

    async def _line(self, response: web.StreamResponse, obj: dict[str, Any]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        transport = response._req.transport if response._req is not None else None
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the pull")  # as Ollama stops
        await response.write(json.dumps(obj).encode() + b"\n")

    async def _delete(self, request: web.Request) -> web.Response:
        name = self._name(await self._body(request))
        if not any(m["name"] == name for m in self.models):
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        self.models = [m for m in self.models if m["name"] != name]
        self.loaded = [m for m in self.loaded if m["name"] != name]
        return web.Response(status=200)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        await self._body(request)  # logged; the body stays readable
        return await self.gen.handle(self, request)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeOllama()
    if args.no_models:
        fake.models = []
    fake.delay = args.delay
    for item in args.publish:
        name, _, size = item.partition("=")
        fake.publish(name, int(size) if size else 2_000_000_000)
    await fake.start(args.port)
    print(fake.url, flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Ollama server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument(
        "--publish", action="append", default=[], help="NAME[=BYTES] on the fake registry"
    )
    parser.add_argument("--no-models", action="store_true", help="start with nothing installed")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per progress line")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
