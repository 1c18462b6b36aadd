"""A fake of the OBT API's agent endpoints (docs/agent.md "HTTP mode").

Kept for the one case the real app (tests/agent/real_obt_api.py) cannot produce: `forget()`, a
server that still accepts the node token but has lost the report digest; and for the work
endpoints (docs/agent.md "Acting on models"): with `work_generation` set, heartbeat answers carry
it, `GET /work` answers `tasks`/`model_sets`/`labels` (and `benchmarks` once that list is set),
and `PUT /activity` is kept per node; benchmark results (`GET`/`POST .../benchmark-results`)
are kept in `results`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ENROLLMENT_TOKEN = "abcdef.0123456789abcdef"


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]
    status: int


@dataclass
class FakeObtApi:
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> node name
    digests: dict[str, str] = field(default_factory=dict)
    work_generation: int | None = None  # None: an API without work support
    tasks: list[dict[str, Any]] = field(default_factory=list)
    model_sets: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    activity: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    benchmarks: list[dict[str, Any]] | None = None  # None: an API without benchmark support
    results: list[dict[str, Any]] = field(default_factory=list)  # {"name", "node", "spec"}
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeObtApi:
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_post("/api/v1/agents/enroll", self._enroll)
        app.router.add_put("/api/v1/agents/{node}/report", self._report)
        app.router.add_post("/api/v1/agents/{node}/heartbeat", self._heartbeat)
        app.router.add_get("/api/v1/agents/{node}/work", self._work)
        app.router.add_put("/api/v1/agents/{node}/activity", self._activity)
        app.router.add_get("/api/v1/agents/{node}/benchmark-results", self._results)
        app.router.add_post("/api/v1/agents/{node}/benchmark-results", self._add_result)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def stop(self) -> None:
        """The server goes away."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def forget(self) -> None:
        """A restarted server that lost what it knew (but kept its tokens in a database)."""
        self.digests.clear()
        self.reports.clear()

    def _answer(
        self,
        request: web.Request,
        body: dict[str, Any],
        status: int,
        data: Any,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        self.calls.append(Call(request.method, request.path, body, status))
        return web.json_response(data, status=status, headers=headers)

    def _auth(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        node = self.tokens.get(token)
        if node is None:
            return self._answer(request, body, 401, {"detail": "invalid token"})
        if node != request.match_info["node"]:
            return self._answer(request, body, 403, {"detail": "token belongs to another node"})
        return None

    async def _enroll(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("enrollmentToken") != ENROLLMENT_TOKEN:
            return self._answer(request, body, 401, {"detail": "unknown enrollment token"})
        node = body["hostId"]
        token = f"node-token-{node}-{len(self.tokens)}"
        self.tokens[token] = node
        return self._answer(request, body, 201, {"nodeName": node, "token": token})

    async def _report(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = self._auth(request, body)
        if refused:
            return refused
        if "hardware" not in body:
            return self._answer(request, body, 422, {"detail": "body.hardware: field required"})
        node = request.match_info["node"]
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        self.reports[node] = body
        self.digests[node] = digest
        return self._answer(request, body, 200, {"accepted": True, "digest": digest})

    async def _heartbeat(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = self._auth(request, body)
        if refused:
            return refused
        node = request.match_info["node"]
        needed = self.digests.get(node) != body.get("digest")
        answer: dict[str, Any] = {"reportNeeded": needed}
        if self.work_generation is not None:
            answer["workGeneration"] = self.work_generation
        return self._answer(request, body, 200, answer)

    def bump(self) -> None:
        """A task or set changed: the work generation moves."""
        self.work_generation = (self.work_generation or 0) + 1

    async def _work(self, request: web.Request) -> web.Response:
        if self.work_generation is None:
            return self._answer(request, {}, 404, {"detail": "Not Found"})
        refused = self._auth(request, {})
        if refused:
            return refused
        return self._answer(
            request,
            {},
            200,
            {
                "generation": self.work_generation,
                "labels": self.labels,
                "tasks": self.tasks,
                "modelSets": self.model_sets,
                **({} if self.benchmarks is None else {"benchmarks": self.benchmarks}),
            },
        )

    async def _activity(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = self._auth(request, body)
        if refused:
            return refused
        entries = body.get("activity")
        if not isinstance(entries, list) or len(entries) > 20:
            return self._answer(request, body, 422, {"detail": "activity: a list of at most 20"})
        self.activity[request.match_info["node"]] = entries
        return self._answer(request, body, 200, {"accepted": True})

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for c in self.calls if c.method == method and c.path.endswith(suffix))

    # Benchmark results -----------------------------------------------------------------------

    async def _results(self, request: web.Request) -> web.Response:
        refused = self._auth(request, {})
        if refused:
            return refused
        wanted = request.query.get("fingerprint")
        found = [
            {"name": r["name"], "spec": r["spec"]}
            for r in self.results
            if r["spec"].get("fingerprint") == wanted
        ]
        return self._answer(request, {}, 200, found)

    async def _add_result(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = self._auth(request, body)
        if refused:
            return refused
        node = request.match_info["node"]
        spec = body.get("spec") or {}  # the real API's body: {"spec": OllamaBenchmarkResultSpec}
        if spec.get("node") != node:
            return self._answer(request, body, 403, {"detail": "a result of another node"})
        name = f"{spec['benchmark']}-{node}-{len(self.results) + 1}"
        self.results.append({"name": name, "node": node, "spec": spec})
        return self._answer(request, body, 201, {"name": name})
