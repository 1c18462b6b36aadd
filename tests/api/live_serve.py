"""A real `obt serve` (SQLite in a temporary directory, a loopback port) and the real `obt`
command run against it in a subprocess, as a person runs it: what the CLI tests share."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.api.pg import free_port

ADMIN = "cli-test-admin-token-0123456789"
OBT = Path(sys.executable).with_name("obt")


@dataclass
class Live:
    base: str
    env: dict[str, str]

    def obt(
        self, *args: str, server: str | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, OBT_SERVER=server or self.base)
        return subprocess.run(
            [str(OBT), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
        )

    def ok(self, *args: str) -> str:
        result = self.obt(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`obt ARGS` running in the background, its output on pipes (not a terminal)."""
        return subprocess.Popen(
            [str(OBT), *args],
            env=dict(self.env, OBT_SERVER=self.base),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"}
        )


@contextmanager
def live_serve(data: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Live]:
    """`obt serve --no-agent ARGS` with a known admin token, no rate limits and `env`, ready."""
    extra = env or {}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBT_")}
    env.update(
        extra,
        OBT_API__ADMIN_TOKEN=ADMIN,
        OBT_API__RATE_LIMIT__PER_IP_PER_MINUTE="0",
        OBT_API__RATE_LIMIT__PER_TOKEN_PER_MINUTE="0",
        OBT_API__RATE_LIMIT__ENROLL_PER_IP_PER_MINUTE="0",
    )
    serve = subprocess.Popen(
        [str(OBT), "serve", "--no-agent", "--port", str(port), "--data-dir", str(data), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert serve.poll() is None, serve.stdout.read() if serve.stdout else ""
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "obt serve did not become ready in 90 s"
            time.sleep(0.2)
        yield Live(base=base, env=env)
    finally:
        serve.terminate()
        try:
            serve.wait(20)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait(10)
