"""Kubeconfig exec credential plugins (obt.core.kube_exec) against the test API server, which
here takes only the bearer tokens the test names: the plugin is a small script that prints an
ExecCredential, the client sends its token, keeps it until it expires, and runs the plugin
again after that or on a 401."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from obt.core.kube import ApiError, ConfigError, KubeClient, kubeconfig_config, load_config
from tests.support.kube_api_server import KubeApiServer

PLUGIN = """#!{python}
# A credential plugin: checks what kubectl would give it, prints token tok-<run number>.
import json, os, sys
runs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs")
count = (int(open(runs).read()) if os.path.exists(runs) else 0) + 1
open(runs, "w").write(str(count))
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
if sys.argv[1:] != ["token", "--cluster", "obt-test"] or os.environ.get("PLUGIN_REGION") != "eu":
    sys.exit("bad arguments or environment: %r" % sys.argv[1:])
if info["spec"]["interactive"] is not False or sys.stdin.read() != "":
    sys.exit("asked to be interactive")
if os.environ.get("PLUGIN_FAIL"):
    sys.exit("login expired: run `cloud auth login`")
status = {{"token": "tok-%d" % count}}
if os.environ.get("PLUGIN_EXPIRES"):
    status["expirationTimestamp"] = os.environ["PLUGIN_EXPIRES"]
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}}))
"""


def write_kubeconfig(
    folder: Path,
    server: str,
    user: dict[str, Any],
) -> Path:
    path = folder / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "eks-user", "user": user}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "eks-user"}}],
                "current-context": "c",
            }
        )
    )
    return path


def exec_user(
    folder: Path,
    api_version: str = "client.authentication.k8s.io/v1",
    mode: str | None = "Never",
    **env: str,
) -> dict[str, Any]:
    plugin = folder / "bin" / "cloud-auth"
    plugin.parent.mkdir(exist_ok=True)
    plugin.write_text(PLUGIN.format(python=sys.executable))
    plugin.chmod(0o755)
    spec: dict[str, Any] = {
        "apiVersion": api_version,
        "command": "./bin/cloud-auth",  # relative: to the kubeconfig's folder, as kubectl does
        "args": ["token", "--cluster", "obt-test"],
        "env": [{"name": "PLUGIN_REGION", "value": "eu"}]
        + [{"name": k, "value": v} for k, v in env.items()],
    }
    if mode:
        spec["interactiveMode"] = mode
    return {"exec": spec}


def runs(folder: Path) -> int:
    return int((folder / "bin" / "runs").read_text())


def sent_tokens(kube_api: KubeApiServer) -> list[str]:
    return [r.authorization for r in kube_api.requests if r.path.startswith("/api/v1/nodes")]


@pytest.mark.parametrize(
    ("api_version", "mode"),
    [
        ("client.authentication.k8s.io/v1", "Never"),
        ("client.authentication.k8s.io/v1beta1", "IfAvailable"),
        ("client.authentication.k8s.io/v1beta1", None),
    ],
)
async def test_exec_plugin_token_is_sent_cached_and_renewed_on_401(
    kube_api: KubeApiServer, tmp_path: Path, api_version: str, mode: str | None
) -> None:
    kube_api.set_node_ready("gpu-1", True)
    path = write_kubeconfig(tmp_path, kube_api.url, exec_user(tmp_path, api_version, mode))
    kube_api.bearer_tokens = {"tok-1"}
    kube_api.clear_requests()
    try:
        async with KubeClient(load_config(path)) as kube:
            for _ in range(3):
                assert (await kube.get_node("gpu-1"))["metadata"]["name"] == "gpu-1"
            assert runs(tmp_path) == 1  # no expiry given: one run serves every request
            kube_api.bearer_tokens = {"tok-2"}  # tok-1 revoked: the next request gets a 401
            assert (await kube.get_node("gpu-1"))["metadata"]["name"] == "gpu-1"
            assert runs(tmp_path) == 2
        assert sent_tokens(kube_api) == ["Bearer tok-1"] * 4 + ["Bearer tok-2"]
        assert [r.status for r in kube_api.requests if r.path.startswith("/api/v1/nodes")] == [
            200,
            200,
            200,
            401,
            200,
        ]
    finally:
        kube_api.bearer_tokens = None


async def test_exec_plugin_runs_again_once_its_credential_expires(
    kube_api: KubeApiServer, tmp_path: Path
) -> None:
    kube_api.set_node_ready("gpu-1", True)
    user = exec_user(tmp_path, PLUGIN_EXPIRES="2030-01-01T00:00:00Z")
    config = kubeconfig_config(write_kubeconfig(tmp_path, kube_api.url, user))
    assert config.exec_plugin is not None
    expiry = 1893456000.0  # 2030-01-01T00:00:00Z
    now = [expiry - 60]
    config.exec_plugin.clock = lambda: now[0]
    kube_api.bearer_tokens = {"tok-1", "tok-2"}
    kube_api.clear_requests()
    try:
        async with KubeClient(config) as kube:
            await kube.get_node("gpu-1")
            now[0] = expiry - 1
            await kube.get_node("gpu-1")
            assert runs(tmp_path) == 1  # still valid
            now[0] = expiry
            await kube.get_node("gpu-1")
            assert runs(tmp_path) == 2  # expired: run again before the request
        assert sent_tokens(kube_api) == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    finally:
        kube_api.bearer_tokens = None


async def test_without_credentials_the_test_server_answers_401(kube_api: KubeApiServer) -> None:
    kube_api.bearer_tokens = {"tok-1"}
    try:
        async with KubeClient(kubeconfig_config(kube_api.kubeconfig)) as kube:  # obt-test-token
            with pytest.raises(ApiError) as error:
                await kube.get_node("gpu-1")
        assert error.value.status == 401
    finally:
        kube_api.bearer_tokens = None


async def test_a_failing_plugin_is_a_config_error_with_its_message(tmp_path: Path) -> None:
    user = exec_user(tmp_path, PLUGIN_FAIL="1")
    config = kubeconfig_config(write_kubeconfig(tmp_path, "http://127.0.0.1:1", user))
    with pytest.raises(ConfigError) as error:
        config.bearer_token()
    message = str(error.value)
    assert "exec plugin './bin/cloud-auth' exited with status 1" in message
    assert "login expired: run `cloud auth login`" in message


def test_a_missing_plugin_names_its_install_hint(tmp_path: Path) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "obt-no-such-auth-plugin",
            "installHint": "install it with `cloud components install auth-plugin`",
        }
    }
    config = kubeconfig_config(write_kubeconfig(tmp_path, "http://127.0.0.1:1", user))
    with pytest.raises(ConfigError) as error:
        config.bearer_token()
    assert "'obt-no-such-auth-plugin' is not on PATH" in str(error.value)
    assert "cloud components install auth-plugin" in str(error.value)


@pytest.mark.parametrize(
    ("user", "words"),
    [
        (
            {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": "x",
                    "interactiveMode": "Always",
                }
            },
            "interactiveMode is Always",
        ),
        (
            {"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}},
            "apiVersion 'client.authentication.k8s.io/v1alpha1' is not supported",
        ),
        (
            {"auth-provider": {"name": "gcp", "config": {}}},
            "use its exec credential plugin instead (gke-gcloud-auth-plugin)",
        ),
    ],
)
def test_refused_user_plugins_say_why(tmp_path: Path, user: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as error:
        kubeconfig_config(write_kubeconfig(tmp_path, "http://127.0.0.1:1", user))
    assert words in str(error.value)
    assert "user 'eks-user'" in str(error.value)


def test_a_client_certificate_from_the_plugin_is_put_in_place(tmp_path: Path) -> None:
    plugin = tmp_path / "cert-plugin"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {
            "clientCertificateData": "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n",
            "clientKeyData": "-----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----\n",
        },
    }
    plugin.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(credential))})\n")
    plugin.chmod(0o755)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}
    config = kubeconfig_config(write_kubeconfig(tmp_path, "http://127.0.0.1:1", user))
    assert config.bearer_token() is None  # no token: the certificate authenticates
    assert config.credential_generation == 1
    assert config.client_cert_file and config.client_key_file
    status = credential["status"]
    assert isinstance(status, dict)
    assert Path(config.client_cert_file).read_text() == status["clientCertificateData"]
    assert Path(config.client_key_file).read_text() == status["clientKeyData"]
    assert Path(config.client_key_file).stat().st_mode & 0o077 == 0  # private key: owner only
    config.remove_temp_files()
