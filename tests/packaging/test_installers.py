"""The standalone installers in packaging/: the systemd unit (systemd-analyze), the macOS install
script (run for real on this machine against `obt serve` on loopback, with a fake launchctl), the
launchd plist and the Windows installer (static checks: no PowerShell here)."""

from __future__ import annotations

import json
import os
import plistlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from obt.agent.settings import default_host_id
from tests.api.pg import free_port
from tests.support.processes import stop, wait_for_nodes, wait_ready

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "packaging" / "systemd" / "obt-agent.service"
LAUNCHD = REPO / "packaging" / "launchd"
PS1 = REPO / "packaging" / "windows" / "install-agent.ps1"
OBT = Path(sys.executable).with_name("obt")
INSTALL_SH = ["sh", str(LAUNCHD / "install-agent.sh")]


def _unit() -> dict[str, list[str]]:
    """The [Service] section, each key with all its values (systemd allows repeats)."""
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_systemd_unit_is_hardened_but_can_still_read_the_hardware() -> None:
    service = _unit()
    one = {key: values[-1] for key, values in service.items()}
    assert one["DynamicUser"] == "yes"
    assert one["ProtectSystem"] == "strict" and one["ProtectHome"] == "yes"
    assert one["NoNewPrivileges"] == "yes" and one["CapabilityBoundingSet"] == ""
    assert one["StateDirectory"] == "obt-agent" and one["StateDirectoryMode"] == "0700"
    assert one["UMask"] == "0077"
    # The node token goes where StateDirectory= makes a writable place.
    assert "OBT_AGENT__DATA_DIR=%S/obt-agent" in service["Environment"]
    # What the agent reads must stay visible: /proc (cpuinfo, meminfo), /sys, /dev/nvidia*.
    assert one.get("PrivateDevices", "no") == "no"
    assert "DevicePolicy" not in one and "ProcSubset" not in one
    assert not {"InaccessiblePaths", "TemporaryFileSystem"} & set(one)
    assert {"video", "render"} <= set(one["SupplementaryGroups"].split())
    assert one["ExecStart"].endswith("/bin/obt agent")
    assert "--enroll-token" not in UNIT.read_text()  # the token lives in the 0600 env file
    assert "pip install 'obt[" not in UNIT.read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit_and_rates_it_well(tmp_path: Path) -> None:
    # verify also checks that ExecStart= exists: point it at this venv's obt (same arguments).
    text = UNIT.read_text().replace("/opt/obt-agent/bin/obt", str(OBT))
    text = text.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/")
    unit = tmp_path / "obt-agent.service"
    unit.write_text(text)
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    # Overall exposure below 3.0 ("OK"); 10 is a root service with no hardening at all.
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=30", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert security.returncode == 0, security.stdout[-3000:] + security.stderr


def _native_lines(script: str) -> list[tuple[int, str]]:
    """Lines of the PowerShell script that run a native program: `& ...` or icacls."""
    found = []
    for number, line in enumerate(script.splitlines(), 1):
        code = line.split("#", 1)[0].strip()
        if re.match(r"^(&\s|icacls\b)", code) or re.search(r"\{\s*(&\s|icacls\b)", code):
            found.append((number, code))
    return found


def test_windows_installer_checks_every_native_exit_code() -> None:
    script = PS1.read_text()
    lines = script.splitlines()
    natives = _native_lines(script)
    assert len(natives) >= 6, natives  # venv, pip x2, icacls, enrollment, the version check
    function_end = next(i for i, line in enumerate(lines, 1) if line.startswith("}") and i > 10)
    for number, code in natives:
        if number <= function_end:
            assert code == "& $Command"  # inside Invoke-Native itself
            assert "if ($LASTEXITCODE -ne 0)" in lines[number]
            continue
        wrapped = lines[number - 1].lstrip().startswith("Invoke-Native ") or lines[
            number - 2
        ].lstrip().startswith("Invoke-Native ")
        checked_next = "$LASTEXITCODE" in lines[number]
        assert wrapped or checked_next, f"install-agent.ps1:{number}: unchecked {code!r}"


def test_windows_installer_explains_python_policy_and_uninstall() -> None:
    script = PS1.read_text()
    assert "sys.version_info >= (3, 10)" in script
    assert "https://www.python.org/downloads/windows/" in script and "winget install" in script
    assert "-ExecutionPolicy Bypass -File" in script
    assert "[switch]$Uninstall" in script and "Unregister-ScheduledTask" in script
    # No token on a command line that others can read: enrollment goes through the environment.
    assert "--enroll-token" not in script
    assert "$env:OBT_AGENT__ENROLL_TOKEN = $EnrollToken" in script
    assert "pip install 'obt[" not in script and '"obt[agent]"' not in script


def _fake_bin(tmp_path: Path) -> Path:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    launchctl = fake / "launchctl"
    launchctl.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path / "launchctl.log"}"\n')
    launchctl.chmod(0o755)
    old = fake / "python3.9"
    old.write_text("#!/bin/sh\n[ \"$1\" = -V ] && echo 'Python 3.9.6'\nexit 1\n")
    old.chmod(0o755)
    return fake


def test_macos_installer_refuses_python_39_and_says_where_to_get_310(tmp_path: Path) -> None:
    fake = _fake_bin(tmp_path)
    old = str(fake / "python3.9")
    done = subprocess.run(
        [*INSTALL_SH, "--server", "https://127.0.0.1:1", "--enroll-token", "a.b", "--python", old],
        env={
            **os.environ,
            "PATH": f"{fake}:{os.environ['PATH']}",
            "OBT_INSTALL_ROOT": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Python 3.9.6; OBT needs Python >= 3.10" in done.stderr
    assert "https://www.python.org/downloads/macos/" in done.stderr
    assert not (tmp_path / "launchctl.log").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_macos_installer_enrolls_and_keeps_the_token_out_of_the_plist(
    dist_wheel: Path, tmp_path: Path
) -> None:
    """The install script run for real (with a fake launchctl): it installs the wheel of
    `make dist` into its venv, enrolls against `obt serve`, writes the node token 0600 and a plist
    without any secret; --uninstall removes it all."""
    fake = _fake_bin(tmp_path)
    root = tmp_path / "root"
    prefix_bin = root / "usr" / "local" / "obt-agent" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBT_")}
    env["OBT_AGENT__OLLAMA_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens: fast fail
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp_path / "server"
    serve = subprocess.Popen(
        [str(OBT), "serve", "--port", str(port), "--data-dir", str(data), "--no-agent"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_ready(base, serve)
        created = subprocess.run(
            [str(OBT), "token", "create", "--server", base, "--data-dir", str(data)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        enroll = re.search(r"--enroll-token (\S+)", created.stdout)
        assert enroll is not None, created.stdout
        token = enroll.group(1)

        ca_file = tmp_path / "private & ca.pem"  # XML-escaped in the plist
        trustme.CA().cert_pem.write_to_path(str(ca_file))
        script_env = {**env, "PATH": f"{fake}:{env['PATH']}", "OBT_INSTALL_ROOT": str(root)}
        script_env["PIP_NO_COMPILE"] = "1"  # as tests/packaging/conftest.py's venvs: faster
        enroll_args = ["--enroll-token", token, "--ca-file", str(ca_file)]
        # Without --python the script finds a Python >= 3.10 on PATH by itself.
        done = subprocess.run(
            [*INSTALL_SH, "--wheel", str(dist_wheel), "--server", base, *enroll_args],
            env=script_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert token not in done.stdout + done.stderr

        data_dir = root / "Library" / "Application Support" / "obt-agent"
        state = data_dir / "agent-state.json"
        assert state.stat().st_mode & 0o777 == 0o600
        assert data_dir.stat().st_mode & 0o777 == 0o700
        assert state.stat().st_uid == os.getuid()

        plist_path = root / "Library" / "LaunchDaemons" / "dev.obt.agent.plist"
        assert plist_path.stat().st_mode & 0o777 == 0o644
        plist = plistlib.loads(plist_path.read_bytes())
        assert plist["Label"] == "dev.obt.agent"
        assert plist["ProgramArguments"] == [str(prefix_bin / "obt"), "agent"]
        assert plist["EnvironmentVariables"] == {
            "OBT_AGENT__SERVER": base,
            "OBT_AGENT__DATA_DIR": str(data_dir),
            "OBT_AGENT__CA_FILE": str(ca_file),
        }
        text = plist_path.read_text()
        node_token = json.loads(state.read_text())["token"]
        assert token not in text and node_token not in text and "TOKEN" not in text
        assert "bootstrap system " + str(plist_path) in (tmp_path / "launchctl.log").read_text()

        nodes = wait_for_nodes(base, serve)
        assert [n["name"] for n in nodes] == [default_host_id()]

        removed = subprocess.run(
            [*INSTALL_SH, "--uninstall"],
            env=script_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert removed.returncode == 0, removed.stderr
        assert not plist_path.exists() and not data_dir.exists()
        assert not (root / "usr" / "local" / "obt-agent").exists()
        assert "bootout system/dev.obt.agent" in (tmp_path / "launchctl.log").read_text()
    finally:
        stop(serve)
