"""Fixtures: the API on real PostgreSQL (started here) and on SQLite, driven in-process."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from obt.api.app import create_app
from obt.api.settings import ApiSettings
from obt.api.state import AppState
from tests.api.pg import in_ci, postgres_server

ADMIN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    try:
        with postgres_server() as url:
            yield url
    except (FileNotFoundError, OSError, Exception) as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI but could not start: {exc}")
        warnings.warn(
            f"\n\n*** PostgreSQL tests SKIPPED: {exc} ***\n*** run `make tools` to install it ***\n",
            stacklevel=1,
        )
        yield None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}"
    url = request.getfixturevalue("pg_url")
    if url is None:
        pytest.skip("PostgreSQL not available (see the warning above)")
    return url


def make_settings(db_url: str, **api: Any) -> ApiSettings:
    group = {
        "admin_token": ADMIN,
        "demo": True,  # the tests seed fake nodes (POST /api/v1/admin/seed)
        "heartbeat_flush_seconds": 0.2,
        "rate_limit": {
            "per_token_per_minute": 0,
            "per_ip_per_minute": 0,
            "enroll_per_ip_per_minute": 0,
        },
        "auth": {"anonymous_read": True},  # most tests read without a credential
        **api,
    }
    return ApiSettings(_env_file=None, database={"url": db_url}, api=group)  # type: ignore[call-arg]


@dataclass
class Api:
    app: FastAPI
    state: AppState
    client: httpx.AsyncClient

    admin = {"Authorization": f"Bearer {ADMIN}"}


# Every table a test may fill, children first.
TABLES = [
    "node_condition_events",
    "node_models",
    "node_loaded_models",
    "node_gpus",
    "node_labels",
    "tombstones",
    "node_credentials",
    "enrollment_tokens",
    "audit_log",
    "auth_sessions",
    "api_tokens",
    "nodes",
    "node_changes",
    "tasks",
    "model_sets",
]


async def empty_tables(engine: AsyncEngine) -> None:
    """Delete every row the tests write, on either backend."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
        else:
            for table in TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))
        # Rows removed behind the store's back: cached list totals must not survive them.
        await conn.execute(
            text(
                "UPDATE fleet_generation SET generation = generation + 1, reset_generation = generation + 1"
            )
        )


async def _truncate(state: AppState) -> None:
    await empty_tables(state.engine)


@asynccontextmanager
async def running_api(settings: ApiSettings, **kwargs: Any) -> AsyncIterator[Api]:
    """The app with its lifespan run (ASGITransport does not run it) and a client on it."""
    app = create_app(settings, **kwargs)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.obt
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://obt.test") as client:
            yield Api(app=app, state=state, client=client)


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with running_api(make_settings(db_url)) as running:
        await _truncate(running.state)
        running.state.ingest.by_hash.clear()
        running.state.ingest.by_name.clear()
        yield running


@asynccontextmanager
async def served_api(settings: ApiSettings, **kwargs: Any) -> AsyncIterator[Api]:
    """The app behind a real uvicorn on 127.0.0.1 (streams need it: httpx's ASGITransport
    buffers whole responses)."""
    import asyncio

    import uvicorn

    from tests.api.pg import free_port

    app = create_app(settings, **kwargs)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield Api(app=app, state=app.state.obt, client=client)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
