"""The agent's transport: one warning for plain HTTP beyond this machine, and --ca-file.

No traffic leaves loopback: building an HttpReporter sends nothing, and the agent process below
stops at its --ca-file check before any request."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obt.agent.health import Health
from obt.agent.reporters import http
from obt.agent.reporters.http import HttpReporter, plain_http_warning, ssl_context


@pytest.fixture(autouse=True)
def _fresh_warning_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "_warned_plain_http", set())


def _reporter(server: str, tmp_path: Path) -> HttpReporter:
    health = Health(interval=15, clock=time.monotonic, ready_cycles=3, failure_threshold=2)
    return HttpReporter(server, health, time.monotonic, tmp_path, "laptop", token="t")


@pytest.mark.parametrize(
    "server",
    [
        "http://127.0.0.1:8881",
        "http://127.8.9.10:8881",
        "http://localhost:8881",
        "http://[::1]:8881",
        "https://obt.example:8881",
        "https://192.0.2.10:8881",
    ],
)
def test_no_warning_for_loopback_or_https(server: str) -> None:
    assert plain_http_warning(server) is None


@pytest.mark.parametrize(
    "server", ["http://192.0.2.10:8881", "http://obt.example:8881", "HTTP://[2001:db8::1]:8881"]
)
def test_plain_http_to_another_machine_is_named(server: str) -> None:
    message = plain_http_warning(server)
    assert message is not None
    assert server in message and "--tls-cert" in message and "--ca-file" in message


async def test_the_warning_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="obt.agent.reporters.http")
    # 192.0.2.0/24 is TEST-NET-1: never routed; and constructing a reporter sends nothing.
    for _ in range(3):
        await _reporter("http://192.0.2.10:8881/", tmp_path).close()
    await _reporter("http://127.0.0.1:8881", tmp_path).close()
    warnings = [r.getMessage() for r in caplog.records if "plain HTTP" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("http: http://192.0.2.10:8881 is plain HTTP")


def test_ca_file_errors_name_the_file(tmp_path: Path) -> None:
    assert ssl_context(None) is None
    missing = tmp_path / "nope.pem"
    with pytest.raises(ValueError, match=r"--ca-file .*nope\.pem"):
        ssl_context(missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=r"garbage\.pem: not a readable PEM CA file"):
        ssl_context(garbage)


def test_agent_with_an_unreadable_ca_file_from_the_environment_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBT_")}
    env["OBT_AGENT__CA_FILE"] = str(tmp_path / "missing-ca.pem")
    done = subprocess.run(
        [
            *(str(Path(sys.executable).with_name("obt")), "agent", "--once", "--listen", "off"),
            *("--server", "https://127.0.0.1:9", "--token", "t", "--data-dir", str(tmp_path)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "missing-ca.pem" in done.stderr
