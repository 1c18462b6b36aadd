"""Helpers for tests that run `obt serve` / `obt agent` as real processes on loopback."""

from __future__ import annotations

import ssl
import subprocess
import time
from typing import Any

import httpx


def stop(proc: subprocess.Popen[str]) -> str:
    """Terminate a process this test started (kill it after 15 s) and return its output."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def wait_for_nodes(
    base: str,
    server: subprocess.Popen[str],
    *,
    verify: ssl.SSLContext | bool = True,
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Poll GET {base}/api/v1/nodes until it lists a node; fail with the server's output if the
    server exits first, or after `timeout` seconds (a generous bound on a busy machine)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise AssertionError(server.stdout.read() if server.stdout else "server exited")
        try:
            items: list[dict[str, Any]] = httpx.get(
                f"{base}/api/v1/nodes", verify=verify, timeout=2
            ).json()["items"]
        except httpx.HTTPError:
            items = []
        if items:
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"{base} listed no node within {timeout:.0f}s")
        time.sleep(0.3)


def wait_ready(
    base: str,
    server: subprocess.Popen[str],
    *,
    verify: ssl.SSLContext | bool = True,
    timeout: float = 60.0,
) -> None:
    """Poll GET {base}/readyz until 200; fail with the server's output if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise AssertionError(server.stdout.read() if server.stdout else "server exited")
        try:
            if httpx.get(f"{base}/readyz", verify=verify, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{base}/readyz did not answer 200 within {timeout:.0f}s")
        time.sleep(0.3)
