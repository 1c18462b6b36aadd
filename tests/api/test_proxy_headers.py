"""`obt api` behind a proxy: X-Forwarded-For names the client for the per-address rate limit only
when the connection comes from a trusted proxy (--forwarded-allow-ips / FORWARDED_ALLOW_IPS, which
the chart's api.trustedProxies sets). A real `obt api` process; the test connects from 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port
from tests.support.fixtures import REPO

pytestmark = pytest.mark.slow

OBT = str(REPO / ".venv" / "bin" / "obt")
# One request per minute: a burst of one, the next token a minute later (security.RateLimiter).
PER_MINUTE = 1


@contextmanager
def api_server(tmp_path: Path, args: list[str], env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "api.log").open("w")
    proc = subprocess.Popen(
        [OBT, "api", "--host", "127.0.0.1", "--port", str(port), *args],
        env={
            **{k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"},
            "OBT_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}",
            "OBT_API__ADMIN_TOKEN": "proxy-test-admin-token-0123456789",
            "OBT_API__AUTH__ANONYMOUS_READ": "true",  # reads without a credential
            "OBT_API__RATE_LIMIT__PER_IP_PER_MINUTE": str(PER_MINUTE),
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while status(f"{url}/healthz") != 200:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def status(url: str, forwarded_for: str | None = None) -> int:
    request = urllib.request.Request(url)
    if forwarded_for:
        request.add_header("X-Forwarded-For", forwarded_for)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_trusted_proxy_forwarded_for_is_the_rate_limited_client(tmp_path: Path) -> None:
    with api_server(tmp_path, ["--forwarded-allow-ips", "127.0.0.1"], {}) as url:
        nodes = f"{url}/api/v1/nodes"
        assert status(nodes, "203.0.113.7") == 200
        assert status(nodes, "203.0.113.7") == 429
        # Another client behind the same proxy has a budget of its own.
        assert status(nodes, "203.0.113.8") == 200


def test_untrusted_peer_forwarded_for_is_ignored(tmp_path: Path) -> None:
    # FORWARDED_ALLOW_IPS names a proxy elsewhere: 127.0.0.1 is a plain client, and its
    # X-Forwarded-For (which any client can send) does not buy it fresh budgets.
    with api_server(tmp_path, [], {"FORWARDED_ALLOW_IPS": "192.0.2.10"}) as url:
        nodes = f"{url}/api/v1/nodes"
        assert status(nodes, "203.0.113.7") == 200
        assert status(nodes, "203.0.113.8") == 429


def test_api_help_names_the_trusted_proxy_option() -> None:
    result = subprocess.run(
        [OBT, "api", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "--forwarded-allow-ips" in result.stdout
    assert "FORWARDED_ALLOW_IPS" in result.stdout
