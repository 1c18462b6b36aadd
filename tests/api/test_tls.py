"""Native TLS, no proxy (issue 11, must show 4): `obt serve --tls-cert/--tls-key` with a
certificate from a private CA, `obt enroll-token create` trusting that CA through SSL_CERT_FILE, and an
`obt agent --ca-file` process that enrolls and reports over HTTPS. Loopback only."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trustme

from tests.api.pg import free_port
from tests.support.processes import stop, wait_ready

OBT = str(Path(sys.executable).with_name("obt"))


@pytest.fixture
def private_ca(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA(organization_name="OBT test CA")
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    for i, blob in enumerate(server.cert_chain_pems):
        blob.write_to_path(str(files["cert"]), append=i > 0)
    return files


@pytest.mark.slow
def test_agent_enrolls_and_reports_over_native_tls(
    tmp_path: Path, private_ca: dict[str, Path]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBT_", "SSL_CERT"))}
    env["OBT_AGENT__OLLAMA_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens: fast fail
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    data = tmp_path / "data"
    serve = subprocess.Popen(
        [
            *(OBT, "serve", "--port", str(port), "--data-dir", str(data), "--no-agent"),
            *("--tls-cert", str(private_ca["cert"]), "--tls-key", str(private_ca["key"])),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    agent: subprocess.Popen[str] | None = None
    ca = str(private_ca["ca"])
    trust = ssl.create_default_context(cafile=ca)
    try:
        wait_ready(base, serve, verify=trust)
        # It is TLS for real: a client without the private CA refuses the certificate, and
        # plain HTTP on the same port gets no answer from the API.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/readyz", timeout=5)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).raise_for_status()

        # `obt enroll-token create` (standard library HTTPS) trusts the CA through SSL_CERT_FILE.
        created = subprocess.run(
            [
                OBT,
                "enroll-token",
                "create",
                "--server",
                base,
                "--data-dir",
                str(data),
                "--ttl",
                "1h",
            ],
            env={**env, "SSL_CERT_FILE": ca},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        line = next(line.split() for line in created.stdout.splitlines() if "obt agent" in line)
        enroll = line[line.index("--enroll-token") + 1]
        agent_args = [OBT, "agent", "--server", base, "--enroll-token", enroll]
        agent_args += ["--host-id", "tls-host", "--listen", "off", "--data-dir"]
        agent_args += [str(tmp_path / "agent")]

        # Without --ca-file the agent does not trust the private CA: nothing is delivered.
        refused = subprocess.run(
            [*agent_args, "--once"], env=env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 1
        assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout + refused.stderr
        assert "plain HTTP" not in refused.stdout + refused.stderr

        # With --ca-file: enrolls, reports and heartbeats over HTTPS as a long-running agent.
        agent = subprocess.Popen(
            [*agent_args, "--ca-file", ca],
            env={**env, "OBT_AGENT__HEARTBEAT_INTERVAL_SECONDS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        node: dict[str, object] = {}
        deadline = time.monotonic() + 60
        while not node.get("hardware"):
            assert agent.poll() is None, agent.stdout.read() if agent.stdout else ""
            assert time.monotonic() < deadline, f"tls-host never listed: {node}"
            time.sleep(0.3)
            found = httpx.get(f"{base}/api/v1/nodes/tls-host", verify=trust, timeout=5)
            node = found.json() if found.status_code == 200 else {}
        assert node["phase"] == "Ready"
        assert (tmp_path / "agent" / "agent-state.json").stat().st_mode & 0o777 == 0o600
        listed = httpx.get(f"{base}/api/v1/nodes", verify=trust, timeout=5).json()["items"]
        assert [n["name"] for n in listed] == ["tls-host"]
        out = stop(agent)
        agent = None
        assert "enrolled as tls-host" in out and "report" in out and "accepted" in out
    finally:
        if agent is not None:
            stop(agent)
        out = stop(serve)
    assert f"OBT on {base}" in out
