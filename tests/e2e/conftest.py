"""End-to-end fixtures: real processes (`obt agent`, `obt operator`, `obt api`) against the
Kubernetes API test server and a real PostgreSQL, with a fake Ollama on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.agent.fake_ollama import FakeOllama
from tests.api.conftest import pg_url  # noqa: F401  (the session's PostgreSQL server)
from tests.support.fixtures import REPO

OBT = str(REPO / ".venv" / "bin" / "obt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OllamaThread:
    """A FakeOllama on its own event loop in a thread, so processes can reach it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ollama = FakeOllama()

    def start(self) -> FakeOllama:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.ollama.start(), self.loop).result(10)
        return self.ollama

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Change the fake's state on its own loop (the server reads it there)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.ollama.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def ollama() -> Iterator[OllamaThread]:
    fake = OllamaThread()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def e2e_database(pg_url: str | None) -> str:  # noqa: F811
    """A database of its own on the session's PostgreSQL server."""
    if pg_url is None:
        pytest.skip("PostgreSQL is not available (it is required, and runs, in CI)")
    name = f"obt_e2e_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


class Processes:
    """Started processes with their logs; all stopped (by pid) at the end of the test."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        log = (self.logs / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [OBT, *args],
            env={**os.environ, "OBT_LOG__LEVEL": "INFO", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.procs[name] = proc
        return proc

    def tails(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
            for p in sorted(self.logs.glob("*.log"))
        )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}\n{self.tails()}")

    def wait_for(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                value = check()
            except (OSError, KeyError, TypeError, ValueError):
                value = None
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.tails()}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextmanager
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop()
