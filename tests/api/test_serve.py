"""`obt serve` as a user starts it: a subprocess on a free loopback port, this machine listed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from obt.api.agents.tokens import node_name_for
from tests.api.pg import free_port
from tests.support.processes import stop, wait_for_nodes


@pytest.mark.slow
def test_obt_serve_lists_this_machine(tmp_path: Path) -> None:
    from obt.agent.settings import AgentSettings

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBT_")}
    env["OBT_AGENT__OLLAMA_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens: fast fail
    obt = Path(sys.executable).with_name("obt")
    proc = subprocess.Popen(
        [str(obt), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    expected = node_name_for(AgentSettings().agent.host_id)
    try:
        base = f"http://127.0.0.1:{port}"
        items = wait_for_nodes(base, proc)
        assert [n["name"] for n in items] == [expected]
        node = httpx.get(f"{base}/api/v1/nodes/{expected}").json()
        assert node["phase"] == "Ready" and node["agent"]["mode"] == "embedded"
        assert node["hardware"]["cpu"]["logicalCores"] >= 1
        assert httpx.get(f"{base}/readyz").json() == {"status": "ok"}
        # The dashboard (or the "not built" page) at /, SPA routes too, never for /api/*.
        assert httpx.get(f"{base}/").headers["content-type"].startswith("text/html")
        assert httpx.get(f"{base}/nodes/{expected}").headers["content-type"].startswith("text/html")
        assert httpx.get(f"{base}/api/v1/nothing").status_code == 404
        token_file = tmp_path / "data" / "admin-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        r = httpx.post(
            f"{base}/api/v1/enrollment-tokens",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201

        # A person adds a second host the way `obt serve` tells them: `obt enroll-token create`
        # on this machine, then the `obt agent ...` line it prints, on the other host.
        def obt_cli(*args: str) -> str:
            done = subprocess.run(
                [str(obt), *args], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        data = ["--server", base, "--data-dir", str(tmp_path / "data")]
        created = obt_cli("enroll-token", "create", *data, "--ttl", "1h", "--description", "laptop")
        command = next(line.split() for line in created.splitlines() if "obt agent" in line)
        enroll = command[command.index("--enroll-token") + 1]
        assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", enroll)
        obt_cli(
            *command[1:],
            "--host-id",
            "laptop",
            "--once",
            "--listen",
            "off",
            "--data-dir",
            str(tmp_path / "laptop"),
            "--ollama-url",
            env["OBT_AGENT__OLLAMA_URL"],
        )
        names = {n["name"] for n in httpx.get(f"{base}/api/v1/nodes").json()["items"]}
        assert names == {expected, "laptop"}
        token_id = enroll.split(".")[0]
        assert token_id in obt_cli("enroll-token", "list", *data)
        obt_cli("enroll-token", "revoke", token_id, *data)
        listed = next(
            line for line in obt_cli("enroll-token", "list", *data).splitlines() if token_id in line
        )
        assert listed.split()[2] == "yes"
        # API tokens with a role; `obt token create` without --role still enrolls (deprecated).
        made = obt_cli("token", "create", "--role", "viewer", "--description", "grafana", *data)
        viewer = made.splitlines()[1].strip()
        api_id = made.split()[2]
        me = httpx.get(f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {viewer}"})
        assert me.json()["principal"]["role"] == "viewer" and me.json()["anonymousRead"] is True
        assert api_id in obt_cli("token", "list", *data) and viewer not in obt_cli(
            "token", "list", *data
        )
        nodes = obt_cli("nodes", "--token", viewer, "--server", base)
        assert expected in nodes
        obt_cli("token", "revoke", api_id, *data)
        r = httpx.get(f"{base}/api/v1/nodes", headers={"Authorization": f"Bearer {viewer}"})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        legacy = subprocess.run(
            [str(obt), "token", "create", *data], env=env, capture_output=True, text=True
        )
        assert legacy.returncode == 0 and "--enroll-token" in legacy.stdout
        assert "obt enroll-token" in legacy.stderr
    finally:
        out = stop(proc)
    assert "Admin token" in out and token in out
