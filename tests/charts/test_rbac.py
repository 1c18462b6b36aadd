"""Least privilege of the rendered RBAC, and the agent's own-node-only admission policy in CEL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.charts.conftest import CHART, NAMESPACE, SCENARIOS, Manifest, by_kind, one
from tests.charts.rbac import AdmissionPolicy, Rbac, Request

pytestmark = pytest.mark.helm

AGENT, OPERATOR, API = "obt-agent", "obt-operator", "obt-api"
ONODES = ("obt.dev", "ollamanodes")
TASKS = ("obt.dev", "ollamatasks")
SETS = ("obt.dev", "ollamamodelsets")
WRITES = ("create", "update", "patch", "delete", "deletecollection")


def rbac_of(manifests: list[Manifest]) -> Rbac:
    return Rbac(manifests)


@pytest.fixture
def default_rbac(render: Callable[..., list[Manifest]]) -> Rbac:
    return rbac_of(render())


def can(
    rbac: Rbac, account: str, verb: str, group: str, resource: str, ns: str | None = None
) -> bool:
    return rbac.allowed(NAMESPACE, account, Request(verb, group, resource, ns))


def test_agent_cannot_delete_ollamanodes_or_read_secrets(default_rbac: Rbac) -> None:
    for verb in ("delete", "deletecollection", "update", "list", "watch"):
        assert not can(default_rbac, AGENT, verb, *ONODES), verb
    for ns in (NAMESPACE, "default", "kube-system", None):
        for verb in ("get", "list", "watch"):
            assert not can(default_rbac, AGENT, verb, "", "secrets", ns), (verb, ns)


def test_agent_has_exactly_what_it_needs(default_rbac: Rbac) -> None:
    assert can(default_rbac, AGENT, "get", "", "nodes")
    assert not can(default_rbac, AGENT, "list", "", "nodes")
    assert not can(default_rbac, AGENT, "patch", "", "nodes")
    for verb in ("get", "create", "patch"):
        assert can(default_rbac, AGENT, verb, *ONODES)
    assert can(default_rbac, AGENT, "patch", "obt.dev", "ollamanodes/status")
    assert not can(default_rbac, AGENT, "list", "", "pods", "default")
    assert not can(default_rbac, AGENT, "create", "coordination.k8s.io", "leases", NAMESPACE)


def test_agent_reads_tasks_and_sets_and_writes_none(default_rbac: Rbac) -> None:
    for kind in (TASKS, SETS):
        for verb in ("get", "list", "watch"):
            assert can(default_rbac, AGENT, verb, *kind), (verb, kind)
        for verb in WRITES:
            assert not can(default_rbac, AGENT, verb, *kind), (verb, kind)
        assert not can(default_rbac, AGENT, "patch", kind[0], f"{kind[1]}/status")


def test_pod_selector_discovery_needs_no_pod_rights(
    render: Callable[..., list[Manifest]],
) -> None:
    rbac = rbac_of(render(CHART / "ci" / "nvidia-only-values.yaml"))
    for ns in ("ollama", "default", NAMESPACE):
        assert not can(rbac, AGENT, "list", "", "pods", ns)
        assert not can(rbac, AGENT, "get", "", "secrets", ns)


def test_operator_permissions(default_rbac: Rbac) -> None:
    for verb in ("get", "list", "watch", "patch", "delete"):
        assert can(default_rbac, OPERATOR, verb, *ONODES), verb
    assert can(default_rbac, OPERATOR, "patch", "obt.dev", "ollamanodes/status")
    assert not can(default_rbac, OPERATOR, "create", *ONODES)
    for resource in ("nodes", "pods"):
        for verb in ("get", "list", "watch"):
            assert can(default_rbac, OPERATOR, verb, "", resource, "default")
        assert not can(default_rbac, OPERATOR, "delete", "", resource, "default")
    assert can(default_rbac, OPERATOR, "create", "coordination.k8s.io", "leases", NAMESPACE)
    assert not can(default_rbac, OPERATOR, "create", "coordination.k8s.io", "leases", "default")
    assert can(default_rbac, OPERATOR, "create", "", "events", "default")


def test_operator_writes_statuses_and_deletes_only_finished_tasks(default_rbac: Rbac) -> None:
    for kind in (TASKS, SETS):
        for verb in ("get", "list", "watch"):
            assert can(default_rbac, OPERATOR, verb, *kind), (verb, kind)
        assert can(default_rbac, OPERATOR, "patch", kind[0], f"{kind[1]}/status")
        # People write specs; the operator never creates or changes one.
        for verb in ("create", "update", "patch", "deletecollection"):
            assert not can(default_rbac, OPERATOR, verb, *kind), (verb, kind)
    assert can(default_rbac, OPERATOR, "delete", *TASKS)  # ttlSecondsAfterFinished
    assert not can(default_rbac, OPERATOR, "delete", *SETS)


def test_api_writes_tasks_and_sets_for_people(default_rbac: Rbac) -> None:
    for kind in (TASKS, SETS):
        for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
            assert can(default_rbac, API, verb, *kind), (verb, kind)
        assert not can(default_rbac, API, "deletecollection", *kind)
        # Statuses are the operator's.
        assert not can(default_rbac, API, "patch", kind[0], f"{kind[1]}/status")
    # Labels of standalone hosts (metadata of their OllamaNodes) and their activity.
    assert can(default_rbac, API, "patch", *ONODES)
    assert can(default_rbac, API, "patch", "obt.dev", "ollamanodes/status")


def test_api_permissions(default_rbac: Rbac) -> None:
    # delete: decommissioning a standalone host (`obt node rm`); never a whole collection.
    for verb in ("get", "list", "watch", "create", "patch", "delete"):
        assert can(default_rbac, API, verb, *ONODES), verb
    assert not can(default_rbac, API, "deletecollection", *ONODES)
    assert not can(default_rbac, API, "update", *ONODES)
    assert can(default_rbac, API, "update", "coordination.k8s.io", "leases", NAMESPACE)
    assert not can(default_rbac, API, "update", "coordination.k8s.io", "leases", "kube-node-lease")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_no_component_reads_secrets_or_holds_wildcards(
    render: Callable[..., list[Manifest]], scenario: Any
) -> None:
    manifests = render(scenario)
    rbac = rbac_of(manifests)
    for account in (AGENT, OPERATOR, API):
        for ns in (NAMESPACE, "default"):
            assert not can(rbac, account, "get", "", "secrets", ns), account
    for role in by_kind(manifests, "ClusterRole") + by_kind(manifests, "Role"):
        for rule in role["rules"]:
            for field in ("verbs", "apiGroups", "resources"):
                assert "*" not in rule[field], (role["metadata"]["name"], rule)


# --- admission policy ------------------------------------------------------------------------

NODE_CLAIM = "authentication.kubernetes.io/node-name"


@pytest.fixture
def policy(render: Callable[..., list[Manifest]]) -> AdmissionPolicy:
    manifests = render()
    binding = one(manifests, "ValidatingAdmissionPolicyBinding", "agent")
    vap = one(manifests, "ValidatingAdmissionPolicy", "agent")
    assert binding["spec"]["policyName"] == vap["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    return AdmissionPolicy(vap)


def request(
    node: str | None,
    operation: str = "UPDATE",
    sub_resource: str = "status",
    username: str = f"system:serviceaccount:{NAMESPACE}:{AGENT}",
    resource: str = "ollamanodes",
) -> dict[str, Any]:
    user: dict[str, Any] = {"username": username, "groups": ["system:serviceaccounts"]}
    if node is not None:
        user["extra"] = {
            NODE_CLAIM: [node],
            "authentication.kubernetes.io/node-uid": ["9d6e4c4e-0000-4000-8000-000000000001"],
        }
    return {
        "operation": operation,
        "resource": {"group": "obt.dev", "version": "v1alpha1", "resource": resource},
        "subResource": sub_resource,
        "userInfo": user,
    }


def onode(name: str, node_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": "daemonset"}
    if node_name is not None:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaNode",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("operation", "sub"), [("CREATE", ""), ("UPDATE", ""), ("UPDATE", "status")]
)
def test_agent_may_write_its_own_node(policy: AdmissionPolicy, operation: str, sub: str) -> None:
    decision = policy.review(request("gpu-01", operation, sub), onode("gpu-01", "gpu-01"))
    assert decision.applies
    assert decision.allowed, decision.messages


@pytest.mark.parametrize(
    ("operation", "sub"), [("CREATE", ""), ("UPDATE", ""), ("UPDATE", "status")]
)
def test_agent_may_not_write_another_node(
    policy: AdmissionPolicy, operation: str, sub: str
) -> None:
    decision = policy.review(request("gpu-01", operation, sub), onode("gpu-02", "gpu-02"))
    assert decision.applies
    assert not decision.allowed
    assert (
        "the obt agent on node gpu-01 may write only OllamaNode gpu-01, not gpu-02"
        in decision.messages
    )


def test_agent_may_not_point_its_own_object_at_another_node(policy: AdmissionPolicy) -> None:
    decision = policy.review(request("gpu-01", "CREATE", ""), onode("gpu-01", "gpu-02"))
    assert not decision.allowed
    assert decision.messages == (
        "the obt agent on node gpu-01 may not set spec.nodeName to gpu-02",
    )


@pytest.mark.parametrize("extra", [None, {}])
def test_token_without_node_claim_is_denied(policy: AdmissionPolicy, extra: Any) -> None:
    req = request(None)
    if extra is not None:
        req["userInfo"]["extra"] = extra
    decision = policy.review(req, onode("gpu-01"))
    assert not decision.allowed
    assert any("ServiceAccountTokenPodNodeInfo" in message for message in decision.messages)


@pytest.mark.parametrize(
    "username",
    [
        f"system:serviceaccount:{NAMESPACE}:{OPERATOR}",
        f"system:serviceaccount:{NAMESPACE}:{API}",
        "admin",
    ],
)
def test_other_identities_are_not_restricted(policy: AdmissionPolicy, username: str) -> None:
    decision = policy.review(request(None, username=username), onode("standalone-mac"))
    assert not decision.applies
    assert decision.allowed


def test_policy_ignores_other_resources(policy: AdmissionPolicy) -> None:
    req = request("gpu-01", "UPDATE", "")
    req["resource"] = {"group": "", "version": "v1", "resource": "configmaps"}
    assert not policy.review(req, {"metadata": {"name": "x"}}).applies


def otask(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaTask",
        "metadata": {"name": name},
        "spec": {"action": "pull", "models": [{"name": "llama3.2"}], "nodes": ["gpu-01"]},
    }


@pytest.mark.parametrize("resource", ["ollamatasks", "ollamamodelsets"])
@pytest.mark.parametrize(
    ("operation", "sub"),
    [("CREATE", ""), ("UPDATE", ""), ("UPDATE", "status"), ("DELETE", "")],
)
def test_agent_may_not_write_tasks_or_sets(
    policy: AdmissionPolicy, resource: str, operation: str, sub: str
) -> None:
    # Even a task that names the agent's own node: people write tasks, the agent only reads.
    obj: dict[str, Any] | None = None if operation == "DELETE" else otask("pull-1")
    old = None if operation == "CREATE" else otask("pull-1")
    # On DELETE the kube-apiserver gives the policy `object` null and the stored `oldObject`.
    decision = policy.review(request("gpu-01", operation, sub, resource=resource), obj, old)  # type: ignore[arg-type]
    assert decision.applies
    assert not decision.allowed
    assert decision.messages == (
        f"the obt agent may not write {resource}: it reports progress in its own OllamaNode only",
    )


@pytest.mark.parametrize("resource", ["ollamatasks", "ollamamodelsets"])
def test_people_and_the_api_may_write_tasks_and_sets(
    policy: AdmissionPolicy, resource: str
) -> None:
    for username in (f"system:serviceaccount:{NAMESPACE}:{API}", "admin"):
        req = request(None, "CREATE", "", username=username, resource=resource)
        assert not policy.review(req, otask("pull-1")).applies


# --- benchmarks ------------------------------------------------------------------------------

BENCHES = ("obt.dev", "ollamabenchmarks")
RESULTS = ("obt.dev", "ollamabenchmarkresults")


def test_benchmark_rbac_of_each_component(default_rbac: Rbac) -> None:
    # Agent: reads benchmarks, writes none; creates (and reads) results, never changes one.
    for verb in ("get", "list", "watch"):
        assert can(default_rbac, AGENT, verb, *BENCHES), verb
    for verb in WRITES:
        assert not can(default_rbac, AGENT, verb, *BENCHES), verb
    assert not can(default_rbac, AGENT, "patch", "obt.dev", "ollamabenchmarks/status")
    for verb in ("get", "list", "create"):
        assert can(default_rbac, AGENT, verb, *RESULTS), verb
    for verb in ("watch", "update", "patch", "delete", "deletecollection"):
        assert not can(default_rbac, AGENT, verb, *RESULTS), verb
    # Operator: watches both, writes only the benchmark's status.
    for kind in (BENCHES, RESULTS):
        for verb in ("get", "list", "watch"):
            assert can(default_rbac, OPERATOR, verb, *kind), (verb, kind)
        for verb in WRITES:
            assert not can(default_rbac, OPERATOR, verb, *kind), (verb, kind)
    assert can(default_rbac, OPERATOR, "patch", "obt.dev", "ollamabenchmarks/status")
    # API: writes benchmarks for people; creates results for standalone hosts and mirrors them.
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert can(default_rbac, API, verb, *BENCHES), verb
    assert not can(default_rbac, API, "patch", "obt.dev", "ollamabenchmarks/status")
    for verb in ("get", "list", "watch", "create"):
        assert can(default_rbac, API, verb, *RESULTS), verb
    for verb in ("update", "patch", "delete", "deletecollection"):
        assert not can(default_rbac, API, verb, *RESULTS), verb


def obench() -> dict[str, Any]:
    return {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaBenchmark",
        "metadata": {"name": "speed"},
        "spec": {"models": [{"name": "llama3.2"}], "nodes": ["gpu-01"]},
    }


def oresult(node: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"benchmark": "speed", "model": "llama3.2:latest"}
    if node is not None:
        spec["node"] = node
    return {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaBenchmarkResult",
        "metadata": {"name": f"speed-{node}"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("operation", "sub"),
    [("CREATE", ""), ("UPDATE", ""), ("UPDATE", "status"), ("DELETE", "")],
)
def test_agent_may_not_write_benchmarks(policy: AdmissionPolicy, operation: str, sub: str) -> None:
    obj: dict[str, Any] | None = None if operation == "DELETE" else obench()
    old = None if operation == "CREATE" else obench()
    req = request("gpu-01", operation, sub, resource="ollamabenchmarks")
    decision = policy.review(req, obj, old)  # type: ignore[arg-type]
    assert decision.applies and not decision.allowed
    assert decision.messages == (
        "the obt agent may not write ollamabenchmarks: it reports progress in its own "
        "OllamaNode only",
    )


def test_agent_may_create_results_of_its_own_node_only(policy: AdmissionPolicy) -> None:
    req = request("gpu-01", "CREATE", "", resource="ollamabenchmarkresults")
    own = policy.review(req, oresult("gpu-01"))
    assert own.applies and own.allowed, own.messages
    other = policy.review(req, oresult("gpu-02"))
    assert not other.allowed
    assert other.messages == (
        "the obt agent on node gpu-01 may create OllamaBenchmarkResults of node gpu-01 only, "
        "not gpu-02",
    )
    assert not policy.review(req, oresult(None)).allowed
    claimless = request(None, "CREATE", "", resource="ollamabenchmarkresults")
    assert not policy.review(claimless, oresult("gpu-01")).allowed


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE"])
def test_agent_may_not_change_or_delete_a_result_even_its_own(
    policy: AdmissionPolicy, operation: str
) -> None:
    req = request("gpu-01", operation, "", resource="ollamabenchmarkresults")
    obj: dict[str, Any] | None = None if operation == "DELETE" else oresult("gpu-01")
    decision = policy.review(req, obj, oresult("gpu-01"))  # type: ignore[arg-type]
    assert decision.applies and not decision.allowed
    assert decision.messages == (
        f"the obt agent may not {operation} an OllamaBenchmarkResult: results are records, "
        "created once",
    )


def test_the_api_may_write_results_and_benchmarks(policy: AdmissionPolicy) -> None:
    api = f"system:serviceaccount:{NAMESPACE}:{API}"
    for resource, obj in (
        ("ollamabenchmarkresults", oresult("mac")),
        ("ollamabenchmarks", obench()),
    ):
        req = request(None, "CREATE", "", username=api, resource=resource)
        assert not policy.review(req, obj).applies
