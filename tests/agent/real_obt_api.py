"""The real OBT API app (SQLite in a tmp dir) behind uvicorn on 127.0.0.1, for the HTTP-mode
agent tests: it can be stopped and started again on the same port and database (an outage), and
it records what it answered (method, path, status) in a thin ASGI wrapper around the app."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from obt.api.app import create_app
from obt.api.state import AppState
from tests.api.conftest import ADMIN, make_settings
from tests.api.pg import free_port


@dataclass
class Answered:
    method: str
    path: str
    status: int


@dataclass
class RealObtApi:
    data_dir: Path
    api: dict[str, Any] = field(default_factory=dict)  # OBT_API__* overrides (make_settings)
    port: int = 0
    calls: list[Answered] = field(default_factory=list)
    state: AppState | None = None
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RealObtApi:
        """Start (again, on the same port and database after stop())."""
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = make_settings(f"sqlite+aiosqlite:///{self.data_dir / 'obt.db'}", **self.api)
        app = create_app(settings, dashboard=False)

        async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
            async def sent(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    self.calls.append(Answered(scope["method"], scope["path"], message["status"]))
                await send(message)

            if scope["type"] == "http":
                await app(scope, receive, sent)
            else:
                await app(scope, receive, send)

        self._server = uvicorn.Server(
            uvicorn.Config(
                recording, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
        )
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(1000):
            if self._server.started:
                break
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the API did not start within 10 s")
        self.state = app.state.obt
        return self

    async def stop(self) -> None:
        """The server goes away: connections are refused until start() again."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 15)
        self._server = self._task = None

    # -- what a person or a test does through the API ---------------------------------------
    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            return await client.request(
                method, path, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs
            )

    async def enrollment_token(self) -> str:
        r = await self.admin("POST", "/api/v1/enrollment-tokens", json={})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    async def enroll(self, host_id: str) -> tuple[str, str]:
        """(node name, node token) of a host enrolled directly."""
        token = await self.enrollment_token()
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            r = await client.post(
                "/api/v1/agents/enroll", json={"enrollmentToken": token, "hostId": host_id}
            )
        assert r.status_code == 201, r.text
        return str(r.json()["nodeName"]), str(r.json()["token"])

    async def node(self, name: str) -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            r = await client.get(f"/api/v1/nodes/{name}")
        return r.json() if r.status_code == 200 else None

    def count(self, method: str, suffix: str, status: int | None = None) -> int:
        return sum(
            1
            for c in self.calls
            if c.method == method
            and c.path.endswith(suffix)
            and (status is None or c.status == status)
        )
