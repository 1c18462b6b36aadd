"""The fake Ollama's `/api/generate`, as the benchmark runner meets it (tests/agent/fake_ollama.py
routes the requests here).

- A prompt streams `chunks` pieces of text (an empty one first, as a model's first token may be
  whitespace the server holds back) and a final `done: true` message with Ollama's counters,
  computed from configured per-model rates (`Rates`: pp and tg tokens/s, optional multiplicative
  noise drawn from a seeded generator, so every run of a test is the same).
- Prompt tokens are about len(prompt) / 4; `num_predict` tokens are generated and `done_reason`
  is `length`, or `stop` after `Rates.stop_after` tokens (an early stop).
- A prompt cache, one slot per model as Ollama's: the same prompt twice in a row is served from
  it. `cache_report` says how the counters show it: "cached-count" (prompt_eval_count of the new
  token only and prompt_eval_cached_count), "short-count" (only the shorter prompt_eval_count) or
  "full-count" (the whole prompt counted although only one token was evaluated: an inflated pp
  that no counter reveals; only unique prompts avoid it).
- Loading: an empty prompt loads the model (keep_alive 0 unloads it); a cold load takes
  `Rates.load_ms`, reported as `load_duration` of the request that loaded. `/api/ps` shows
  size and size_vram (`split`: the share in GPU memory), and a model whose last request said
  keep_alive -1 expires centuries on, as Ollama shows a pinned model. `keep_alives` lists
  every request's keep_alive.
- `generations` counts the requests that generated (a cache hit of the benchmark must run none).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from obt.core.model_names import normalize_model_name

if TYPE_CHECKING:
    from tests.agent.fake_ollama import FakeOllama

NS = 1_000_000_000
CacheReport = Literal["cached-count", "short-count", "full-count"]


@dataclass
class Rates:
    """How fast a model runs on the fake."""

    pp: float = 1000.0
    """Prompt processing, tokens/s."""
    tg: float = 50.0
    """Generation, tokens/s."""
    noise: float = 0.0
    """Each run's rates are multiplied by a factor drawn uniformly from [1-noise, 1+noise]."""
    load_ms: float = 1500.0
    """A cold load's load_duration."""
    stop_after: int | None = None
    """Stop (done_reason 'stop') after this many tokens when fewer than num_predict."""


@dataclass
class GenerateFake:
    seed: int = 1234
    rates: dict[str, Rates] = field(default_factory=dict)
    default: Rates = field(default_factory=Rates)
    prompt_cache: bool = True
    cache_report: CacheReport = "cached-count"
    split: dict[str, float] = field(default_factory=dict)
    """model -> share of its loaded size in GPU memory (1.0 when absent; 0: CPU)."""
    chunks: int = 4
    chunk_delay: float = 0.0
    fail_with: str | None = None
    """An error text the next generation answers in the stream (then cleared)."""
    generations: int = 0
    prompts: list[str] = field(default_factory=list)
    cache_hits: int = 0
    cold_loads: int = 0
    keep_alives: list[Any] = field(default_factory=list)
    last_prompt: dict[str, str] = field(default_factory=dict)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def set_rates(self, model: str, rates: Rates) -> None:
        self.rates[normalize_model_name(model)] = rates

    def rates_of(self, name: str) -> Rates:
        return self.rates.get(name, self.default)

    # Loading ---------------------------------------------------------------------------------

    def load_entry(self, fake: FakeOllama, entry: dict[str, Any]) -> int:
        """Load `entry` (an /api/tags entry); the load_duration in ns (cold: Rates.load_ms)."""
        name = str(entry["name"])
        if any(m["name"] == name for m in fake.loaded):
            return 250_000  # already loaded: a quarter of a millisecond
        size = int(int(entry["size"]) * 1.1)  # KV cache and buffers beyond the file
        share = self.split.get(name, 1.0)
        fake.loaded.append(
            {**entry, "size": size, "size_vram": int(size * share), "context_length": 4096}
        )
        self.cold_loads += 1
        return round(self.rates_of(name).load_ms * 1_000_000)

    def unload_entry(self, fake: FakeOllama, name: str) -> None:
        fake.loaded = [m for m in fake.loaded if m["name"] != name]
        self.last_prompt.pop(name, None)  # the KV cache goes with the model

    # The endpoint ----------------------------------------------------------------------------

    async def handle(self, fake: FakeOllama, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        name = normalize_model_name(str(body.get("model") or ""))
        entry = next((m for m in fake.models if m["name"] == name), None)
        if entry is None:
            return web.json_response(
                {"error": f'model "{name}" not found, try pulling it first'}, status=404
            )
        stamp = datetime.now(timezone.utc).isoformat()
        if body.get("keep_alive") in (0, "0", "0s"):
            self.unload_entry(fake, name)
            answer = {"model": name, "created_at": stamp, "response": "", "done": True}
            return web.json_response({**answer, "done_reason": "unload"})
        load_ns = self.load_entry(fake, entry)
        self.keep_alives.append(body.get("keep_alive"))
        loaded = next(m for m in fake.loaded if m["name"] == name)
        if body.get("keep_alive") in (-1, "-1"):
            loaded["expires_at"] = "2318-08-29T04:12:00.123456789-07:00"
        else:
            loaded.pop("expires_at", None)
        prompt = str(body.get("prompt") or "")
        if not prompt:
            answer = {"model": name, "created_at": stamp, "response": "", "done": True}
            return web.json_response({**answer, "done_reason": "load"})
        return await self._generate(request, body, name, prompt, load_ns)

    async def _generate(
        self, request: web.Request, body: dict[str, Any], name: str, prompt: str, load_ns: int
    ) -> web.StreamResponse:
        self.generations += 1
        self.prompts.append(prompt)
        rates = self.rates_of(name)
        options = body.get("options") or {}
        num_predict = int(options.get("num_predict") or 128)
        tokens = max(1, math.ceil(len(prompt) / 4))
        hit = self.prompt_cache and self.last_prompt.get(name) == prompt
        self.last_prompt[name] = prompt
        evaluated = 1 if hit else tokens
        self.cache_hits += bool(hit)
        pp = rates.pp * (1 + self.rng.uniform(-rates.noise, rates.noise))
        tg = rates.tg * (1 + self.rng.uniform(-rates.noise, rates.noise))
        generated = num_predict
        if rates.stop_after is not None and rates.stop_after < num_predict:
            generated = rates.stop_after
        final: dict[str, Any] = {
            "model": name,
            "created_at": datetime.now(timezone.utc).isoformat(),
            "response": "",
            "done": True,
            "done_reason": "length" if generated == num_predict else "stop",
            "load_duration": load_ns,
            "prompt_eval_count": tokens if self.cache_report == "full-count" else evaluated,
            "prompt_eval_duration": round(evaluated / pp * NS),
            "eval_count": generated,
            "eval_duration": round(generated / tg * NS),
        }
        if hit and self.cache_report == "cached-count":
            final["prompt_eval_cached_count"] = tokens - evaluated
        final["total_duration"] = (
            load_ns + final["prompt_eval_duration"] + final["eval_duration"] + 1_000_000
        )
        if body.get("stream") is False:
            return web.json_response({**final, "response": "tok " * generated})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        failure, self.fail_with = self.fail_with, None
        pieces = [""] + ["tok " * max(1, generated // self.chunks)] * self.chunks
        for index, text in enumerate(pieces):
            if failure is not None and index == 2:
                await response.write(json.dumps({"error": failure}).encode() + b"\n")
                return response
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            chunk = {"model": name, "created_at": final["created_at"], "response": text}
            await response.write(json.dumps({**chunk, "done": False}).encode() + b"\n")
        await response.write(json.dumps(final).encode() + b"\n")
        return response
