"""The fleet acts, end to end, with real processes: `obt operator`, `obt agent` (DaemonSet and
standalone), `obt api` / `obt serve`, against the Kubernetes API test server and fake Ollamas that
stream pulls as Ollama does.

- A model set over 3 DaemonSet nodes converges (READY 3) with at most maxConcurrentPulls nodes
  admitted at a time; a node that joins later gets the models; a drifted digest is reported; a
  node whose pull fails makes the set Degraded with Ollama's error text.
- A standalone host acts on tasks and a model set, and measures a benchmark, through `obt api`
  in cluster mode and through `obt serve` (local mode), learning of its work from the heartbeat
  answer.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.agent.fake_ollama import LLAMA, QWEN
from tests.agent.fake_ollama_generate import Rates
from tests.e2e.conftest import (
    OllamaThread,
    Processes,
    daemonset_agent_args,
    free_port,
    processes,
    standalone_agent_args,
)
from tests.e2e.test_cluster_fleet import ADMIN, AGENT_LABELS, NS, OPERATOR_ENV, get_json, post_json
from tests.support.fixtures import REPO
from tests.support.kube_api_server import KubeApiServer

pytestmark = [pytest.mark.slow]

GROUP_VERSION = "obt.dev/v1alpha1"
CRDS = [
    REPO / "crds" / f"{kind}.yaml"
    for kind in ("ollamatask", "ollamamodelset", "ollamabenchmark", "ollamabenchmarkresult")
]
PULL_ERROR = "pull model manifest: file does not exist"
# Generous bounds for a busy 2-core machine; the real figures are seconds.
CONVERGE = 150.0


@pytest.fixture
def fakes() -> Iterator[list[OllamaThread]]:
    """Up to four fake Ollamas, one per node, each in its own thread."""
    with ExitStack() as stack:
        made: list[OllamaThread] = []
        for _ in range(4):
            fake = OllamaThread()
            fake.start()
            stack.callback(fake.stop)
            made.append(fake)
        yield made


def start_daemonset_agent(
    procs: Processes, kube_api: KubeApiServer, node: str, fake: OllamaThread
) -> None:
    pod = f"obt-agent-{node}"
    kube_api.set_node_ready(node, labels={"obt.dev/pool": "gpu", "kubernetes.io/hostname": node})
    kube_api.set_pod_ready(NS, pod, True, node_name=node, labels=AGENT_LABELS)
    procs.start(
        f"agent-{node}",
        daemonset_agent_args(Path(kube_api.kubeconfig), fake.ollama.url),
        {"OBT_NODE_NAME": node, "OBT_POD_NAME": pod, "OBT_POD_NAMESPACE": NS},
    )


def model_set(kube_api: KubeApiServer, name: str) -> dict[str, Any]:
    got = kube_api.get(GROUP_VERSION, "OllamaModelSet", name)
    assert got is not None, f"OllamaModelSet {name} is gone"
    return got


def status_of(kube_api: KubeApiServer, name: str) -> dict[str, Any]:
    status: dict[str, Any] = model_set(kube_api, name).get("status") or {}
    return status


@pytest.mark.kubectl
def test_a_model_set_converges_on_daemonset_agents(
    kube_api: KubeApiServer, fakes: list[OllamaThread], tmp_path: Path
) -> None:
    kube_api.load_crds(CRDS)
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kubeconfig = Path(kube_api.kubeconfig)
    for fake in fakes:
        fake.ollama.delay = 0.05  # a pull takes a moment: concurrency is observable
    with processes(tmp_path) as procs:
        procs.start(
            "operator", ["operator"], {"OBT_KUBE__KUBECONFIG": str(kubeconfig), **OPERATOR_ENV}
        )
        nodes = ["gpu-1", "gpu-2", "gpu-3"]
        for node, fake in zip(nodes, fakes, strict=False):
            start_daemonset_agent(procs, kube_api, node, fake)
        procs.wait_for(
            lambda: all(
                (o := kube_api.get(GROUP_VERSION, "OllamaNode", n))
                and (o.get("status") or {}).get("phase") == "Ready"
                and (o["metadata"].get("labels") or {}).get("obt.dev/pool") == "gpu"
                for n in nodes
            ),
            90,
            "3 OllamaNodes Ready, with their Node's labels copied",
        )

        kube_api.create(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "OllamaModelSet",
                "metadata": {"name": "coders"},
                "spec": {
                    "models": [{"name": QWEN["name"]}],
                    "nodeSelector": {"matchLabels": {"obt.dev/pool": "gpu"}},
                    "maxConcurrentPulls": 1,
                },
            }
        )
        most_admitted = 0

        def ready(count: int) -> bool:
            nonlocal most_admitted
            status = status_of(kube_api, "coders")
            most_admitted = max(most_admitted, len(status.get("admitted") or []))
            assert (status.get("pulling") or 0) <= 1, status
            return status.get("ready") == count and status.get("selected") == count

        procs.wait_for(lambda: ready(3), CONVERGE, "the set READY 3")
        assert most_admitted == 1
        for fake in fakes[:3]:
            assert QWEN["name"] in fake.ollama.installed()
            assert fake.ollama.pulls_max <= 1
        conditions = {c["type"]: c for c in status_of(kube_api, "coders")["conditions"]}
        assert conditions["Ready"]["status"] == "True"
        assert conditions["Degraded"]["status"] == "False"
        # kubectl-style columns read the same fields.
        assert model_set(kube_api, "coders")["status"]["observedGeneration"] == 1

        # A node that joins later and matches gets the models.
        start_daemonset_agent(procs, kube_api, "gpu-4", fakes[3])
        procs.wait_for(lambda: ready(4), CONVERGE, "the set READY 4 after gpu-4 joined")
        assert QWEN["name"] in fakes[3].ollama.installed()

        # Someone re-pulls a newer copy of the tag on gpu-2: reported as drift (not pinned).
        newer = "f" * 64

        def repull() -> None:
            for entry in fakes[1].ollama.models:
                if entry["name"] == QWEN["name"]:
                    entry["digest"] = newer

        fakes[1].call(repull)
        drifted = procs.wait_for(
            lambda: (s := status_of(kube_api, "coders")).get("drifted") == 1 and s,
            CONVERGE,
            "the drifted digest reported",
        )
        assert [(m["node"], m["drifted"]) for m in drifted["nodes"]] == [("gpu-2", [QWEN["name"]])]

        # A model the registry does not have on gpu-3: Degraded, with Ollama's own words.
        fakes[2].call(fakes[2].ollama.fail_next, "nosuch:1b", f"error:{PULL_ERROR}")
        for fake in fakes[:2] + fakes[3:]:
            fake.call(fake.ollama.publish, "nosuch:1b", 1_000_000)
        kube_api.create(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "OllamaModelSet",
                "metadata": {"name": "broken"},
                "spec": {"models": [{"name": "nosuch:1b"}], "maxConcurrentPulls": "100%"},
            }
        )
        degraded = procs.wait_for(
            lambda: (
                (s := status_of(kube_api, "broken")).get("failed") == 1
                and s.get("ready") == 3
                and s
            ),
            CONVERGE,
            "the broken set Degraded on gpu-3, READY elsewhere",
        )
        conditions = {c["type"]: c for c in degraded["conditions"]}
        assert conditions["Degraded"]["status"] == "True"
        assert "gpu-3" in conditions["Degraded"]["message"]
        assert PULL_ERROR in conditions["Degraded"]["message"]
        failing = next(m for m in degraded["nodes"] if m["node"] == "gpu-3")
        assert failing["state"] == "Failed" and PULL_ERROR in failing["message"]
        # Nothing installed was lost on the failing node.
        assert {QWEN["name"]} <= set(fakes[2].ollama.installed())

        # A benchmark on two of the nodes: each agent writes its OllamaBenchmarkResult, the
        # operator sums them up in the benchmark's status.
        kube_api.create(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "OllamaBenchmark",
                "metadata": {"name": "speed"},
                "spec": {"models": [{"name": QWEN["name"]}], "nodes": ["gpu-1", "gpu-2"]},
            }
        )
        bench = procs.wait_for(
            lambda: (
                (b := kube_api.get(GROUP_VERSION, "OllamaBenchmark", "speed") or {})
                .get("status", {})
                .get("phase")
                in ("Succeeded", "Failed")
                and b
            ),
            CONVERGE,
            "the benchmark finished",
        )
        assert bench["status"]["phase"] == "Succeeded", json.dumps(bench["status"])
        assert (bench["status"]["done"], bench["status"]["ran"]) == (2, 2)
        results = kube_api.list_objects(GROUP_VERSION, "OllamaBenchmarkResult")
        assert sorted(r["spec"]["node"] for r in results) == ["gpu-1", "gpu-2"]
        assert all(r["metadata"]["ownerReferences"][0]["name"] == "speed" for r in results)


def request_json(method: str, url: str, body: dict[str, Any] | None, token: str) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def pull_through_the_api(
    procs: Processes, api: str, host: str, fake: OllamaThread, tmp_path: Path
) -> None:
    """Enroll a standalone agent, pull a model on it with a task, then watch a failing pull end
    Failed with Ollama's text, all through the REST API."""
    token = post_json(
        f"{api}/api/v1/enrollment-tokens", {"description": "e2e", "ttlSeconds": 600}, ADMIN
    )["token"]
    fake.ollama.delay = 0.02
    procs.start(
        "agent-standalone",
        standalone_agent_args(api, token, host, fake.ollama.url, tmp_path / "agent-state"),
        {"OBT_AGENT__HEARTBEAT_INTERVAL_SECONDS": "1"},
    )
    procs.wait_for(
        lambda: any(n["name"] == host for n in get_json(f"{api}/api/v1/nodes")["items"]),
        90,
        "the standalone host listed",
    )
    task = request_json(
        "POST",
        f"{api}/api/v1/tasks",
        {"spec": {"action": "pull", "models": [{"name": QWEN["name"]}], "nodes": [host]}},
        ADMIN,
    )
    name = task["metadata"]["name"]
    done = procs.wait_for(
        lambda: (
            (t := get_json(f"{api}/api/v1/tasks/{name}", ADMIN))["status"].get("phase")
            in ("Succeeded", "Failed")
            and t
        ),
        CONVERGE,
        "the pull task finished",
    )
    assert done["status"]["phase"] == "Succeeded", json.dumps(done["status"])
    assert done["status"]["succeeded"] == 1
    assert QWEN["name"] in fake.ollama.installed()
    procs.wait_for(
        lambda: (
            QWEN["name"]
            in {m["name"] for m in get_json(f"{api}/api/v1/nodes/{host}", ADMIN)["models"]}
        ),
        60,
        "the pulled model listed on the node",
    )

    fake.call(fake.ollama.fail_next, "nosuch:1b", f"error:{PULL_ERROR}")
    fake.call(fake.ollama.publish, "nosuch:1b", 1_000_000)
    task = request_json(
        "POST",
        f"{api}/api/v1/tasks",
        {"spec": {"action": "pull", "models": [{"name": "nosuch:1b"}], "nodes": [host]}},
        ADMIN,
    )
    name = task["metadata"]["name"]
    failed = procs.wait_for(
        lambda: (
            (t := get_json(f"{api}/api/v1/tasks/{name}", ADMIN))["status"].get("phase")
            in ("Succeeded", "Failed")
            and t
        ),
        CONVERGE,
        "the failing pull task finished",
    )
    assert failed["status"]["phase"] == "Failed"
    outcome = failed["status"]["nodes"][0]
    assert outcome["node"] == host and PULL_ERROR in outcome["message"]
    assert QWEN["name"] in fake.ollama.installed()  # nothing installed was lost

    # An admin labels the host; a model set selecting that label converges there (the pull
    # admitted by the aggregator).
    request_json("PUT", f"{api}/api/v1/nodes/{host}/labels", {"labels": {"pool": "lab"}}, ADMIN)
    fake.call(fake.ollama.publish, "phi3:mini", 2_000_000)
    request_json(
        "POST",
        f"{api}/api/v1/modelsets",
        {
            "metadata": {"name": "small"},
            "spec": {
                "models": [{"name": "phi3:mini"}],
                "nodeSelector": {"matchLabels": {"pool": "lab"}},
                "maxConcurrentPulls": 1,
            },
        },
        ADMIN,
    )
    ready = procs.wait_for(
        lambda: (
            (s := get_json(f"{api}/api/v1/modelsets/small", ADMIN)["status"]).get("ready") == 1
            and s
        ),
        CONVERGE,
        "the model set READY 1 on the standalone host",
    )
    assert ready["selected"] == 1 and ready["failed"] == 0
    assert "phi3:mini" in fake.ollama.installed()


def benchmark_through_the_api(procs: Processes, api: str, host: str, fake: OllamaThread) -> None:
    """Benchmark two models on the host: results equal the fake's rates, reach SQL and REST,
    a second benchmark reuses them (no generation at the fake), and they outlive the benchmark."""
    fake.call(fake.ollama.gen.set_rates, QWEN["name"], Rates(pp=2000.0, tg=40.0, noise=0.02))
    fake.call(fake.ollama.gen.set_rates, LLAMA["name"], Rates(pp=900.0, tg=25.0, noise=0.02))
    spec = {"models": [{"name": QWEN["name"]}, {"name": LLAMA["name"]}], "nodes": [host]}

    def run(name: str) -> dict[str, Any]:
        request_json(
            "POST", f"{api}/api/v1/benchmarks", {"metadata": {"name": name}, "spec": spec}, ADMIN
        )
        done: dict[str, Any] = procs.wait_for(
            lambda: (
                (b := get_json(f"{api}/api/v1/benchmarks/{name}", ADMIN))["status"].get("phase")
                in ("Succeeded", "Failed")
                and b
            ),
            CONVERGE,
            f"benchmark {name} finished",
        )
        assert done["status"]["phase"] == "Succeeded", json.dumps(done["status"])
        return done

    first = run("speed-1")
    assert (first["status"]["ran"], first["status"]["reused"]) == (2, 0)
    results = get_json(f"{api}/api/v1/benchmark-results?node={host}", ADMIN)["items"]
    by_model = {r["model"]: r for r in results if r["benchmark"] == "speed-1"}
    assert by_model[QWEN["name"]]["tg"]["mean"] == pytest.approx(40.0, rel=0.05)
    assert by_model[QWEN["name"]]["pp"]["mean"] == pytest.approx(2000.0, rel=0.05)
    assert by_model[LLAMA["name"]]["tg"]["mean"] == pytest.approx(25.0, rel=0.05)
    assert by_model[QWEN["name"]]["tg"]["n"] >= 5

    generations = fake.ollama.gen.generations
    second = run("speed-2")
    assert (second["status"]["ran"], second["status"]["reused"]) == (0, 2)
    assert fake.ollama.gen.generations == generations  # nothing generated: reused

    delete = urllib.request.Request(
        f"{api}/api/v1/benchmarks/speed-1",
        method="DELETE",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    with urllib.request.urlopen(delete, timeout=10) as answer:
        assert answer.status == 204
    kept = get_json(f"{api}/api/v1/benchmark-results?benchmark=speed-1", ADMIN)["items"]
    assert len(kept) == 2  # the history outlives the benchmark


def test_a_standalone_host_acts_through_obt_serve(
    fakes: list[OllamaThread], tmp_path: Path
) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with processes(tmp_path) as procs:
        # `obt serve` as a person runs it (SQLite in --data-dir, the dashboard, its own
        # machine reported by the embedded agent), the admin token given for the test's calls.
        procs.start(
            "serve",
            ["serve", "--port", str(port), "--data-dir", str(tmp_path / "serve-data")],
            {"OBT_API__ADMIN_TOKEN": ADMIN},
        )
        procs.wait_for(lambda: get_json(f"{api}/readyz"), 30, "API ready")
        pull_through_the_api(procs, api, "mac-studio", fakes[0], tmp_path)
        benchmark_through_the_api(procs, api, "mac-studio", fakes[0])


@pytest.mark.postgres
@pytest.mark.kubectl
def test_a_standalone_host_acts_through_obt_api_in_cluster_mode(
    kube_api: KubeApiServer, e2e_database: str, fakes: list[OllamaThread], tmp_path: Path
) -> None:
    kube_api.load_crds(CRDS)
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kube = {"OBT_KUBE__KUBECONFIG": str(kube_api.kubeconfig)}
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with processes(tmp_path) as procs:
        procs.start(
            "api",
            ["api", "--host", "127.0.0.1", "--port", str(port)],
            {
                **kube,
                "OBT_DATABASE__URL": e2e_database,
                "OBT_API__CLUSTER__ENABLED": "true",
                "OBT_KUBE__NAMESPACE": NS,
                "OBT_API__CLUSTER__LEADER_LEASE_SECONDS": "3",
                "OBT_API__ADMIN_TOKEN": ADMIN,
                "OBT_API__AUTH__ANONYMOUS_READ": "true",
            },
        )
        procs.start("operator", ["operator"], {**kube, **OPERATOR_ENV})
        procs.wait_for(lambda: get_json(f"{api}/readyz"), 30, "API ready")
        pull_through_the_api(procs, api, "gaming-pc", fakes[0], tmp_path)
        benchmark_through_the_api(procs, api, "gaming-pc", fakes[0])
        # The task is a custom resource whose status the operator wrote.
        tasks = kube_api.list_objects(GROUP_VERSION, "OllamaTask")
        assert {t["status"]["phase"] for t in tasks} == {"Succeeded", "Failed"}
