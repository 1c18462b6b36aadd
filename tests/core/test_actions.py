"""Planning (node_steps) and aggregation (task_status, modelset_status): the pure core of the
fleet's work, driven here through whole simulated lifecycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from obt.core.actions import (
    RETRY_AFTER_FAILURE,
    NodeFacts,
    Step,
    benchmark_status,
    merge_activity,
    modelset_status,
    node_steps,
    pull_limit,
    task_expired,
    task_status,
)
from obt.core.models import OllamaNode
from obt.core.models.actions import (
    OllamaModelSet,
    OllamaTask,
    OllamaTaskSpec,
    check_model_name,
    normalize_digest,
    same_digest,
)
from obt.core.models.activity import MAX_ACTIVITY, Activity

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


def task(spec: dict[str, Any], name: str = "t1", uid: str = "u1", **status: Any) -> OllamaTask:
    return OllamaTask.model_validate(
        {
            "metadata": {"name": name, "uid": uid, "generation": 1, "creationTimestamp": T0},
            "spec": spec,
            "status": status,
        }
    )


def mset(spec: dict[str, Any], name: str = "s1", uid: str = "su1", **status: Any) -> OllamaModelSet:
    return OllamaModelSet.model_validate(
        {"metadata": {"name": name, "uid": uid, "generation": 1}, "spec": spec, "status": status}
    )


def act(step: Step, phase: str, at: datetime = T0, **extra: Any) -> Activity:
    finished = phase in ("Succeeded", "Failed", "Cancelled", "Skipped")
    return Activity(
        source_kind=step.source_kind,
        source=step.source,
        source_uid=step.source_uid,
        generation=step.generation,
        action=step.action,
        model=step.model,
        phase=phase,  # type: ignore[arg-type]
        started_at=at,
        finished_at=at if finished else None,
        **extra,
    )


def facts(name: str, *, labels: dict[str, str] | None = None, **kw: Any) -> NodeFacts:
    return NodeFacts(name=name, labels=labels or {}, **kw)


def with_activity(node: NodeFacts, *entries: Activity) -> NodeFacts:
    merged = list(node.activity)
    for entry in entries:
        merged = merge_activity(merged, entry)
    return NodeFacts(
        name=node.name,
        labels=node.labels,
        ready=node.ready,
        installed=node.installed,
        loaded=node.loaded,
        activity=tuple(merged),
    )


# --- contract validation -----------------------------------------------------------------


def test_model_names_are_checked_the_way_ollama_checks_them() -> None:
    assert check_model_name("llama3.2") == "llama3.2:latest"
    assert check_model_name("registry.ollama.ai/library/qwen2.5:7b") == "qwen2.5:7b"
    assert check_model_name("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M")
    for bad in ("", "llama 3", "llama3:", "-x", "a/b/c/d", "x:" + "t" * 81):
        with pytest.raises(ValueError):
            check_model_name(bad)


def test_a_bad_task_spec_names_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        OllamaTaskSpec.model_validate(
            {"action": "pull", "models": [{"name": "bad name"}], "nodes": ["a"]}
        )
    assert err.value.errors()[0]["loc"] == ("models", 0, "name")
    with pytest.raises(ValidationError, match="nodes or nodeSelector, not both"):
        OllamaTaskSpec.model_validate(
            {"action": "pull", "models": [{"name": "x"}], "nodes": ["a"], "nodeSelector": {}}
        )
    with pytest.raises(ValidationError, match="to say where to act"):
        OllamaTaskSpec.model_validate({"action": "pull", "models": [{"name": "x"}]})
    with pytest.raises(ValidationError, match="keepAlive applies to action load"):
        OllamaTaskSpec.model_validate(
            {"action": "pull", "models": [{"name": "x"}], "nodes": ["a"], "keepAlive": "5m"}
        )
    with pytest.raises(ValidationError, match="keep-alive"):
        OllamaTaskSpec.model_validate(
            {"action": "load", "models": [{"name": "x"}], "nodes": ["a"], "keepAlive": "soon"}
        )
    ok = OllamaTaskSpec.model_validate(
        {"action": "load", "models": [{"name": "x"}], "nodes": ["a"], "keepAlive": "-1"}
    )
    assert ok.keep_alive == "-1"


def test_digests_compare_by_the_prefix_ollama_list_shows() -> None:
    assert normalize_digest("sha256:" + DIGEST_A) == DIGEST_A
    assert normalize_digest("sha256-" + DIGEST_A[:12]) == DIGEST_A[:12]
    assert same_digest(DIGEST_A, DIGEST_A[:12])
    assert not same_digest(DIGEST_A, DIGEST_B[:12])
    assert not same_digest(None, DIGEST_A)
    with pytest.raises(ValueError, match="not a sha256 digest"):
        normalize_digest("abc")


def test_max_concurrent_pulls_takes_a_count_or_a_percentage() -> None:
    assert pull_limit(mset({"models": [{"name": "x"}], "maxConcurrentPulls": "25%"}), 10) == 3
    assert pull_limit(mset({"models": [{"name": "x"}], "maxConcurrentPulls": "2"}), 10) == 2
    assert pull_limit(mset({"models": [{"name": "x"}], "maxConcurrentPulls": "1%"}), 3) == 1
    with pytest.raises(ValidationError, match="percentage"):
        mset({"models": [{"name": "x"}], "maxConcurrentPulls": "0%"})


def test_node_facts_come_from_an_ollamanode() -> None:
    node = OllamaNode.model_validate(
        {
            "metadata": {"name": "gpu-1", "labels": {"zone": "a"}},
            "spec": {"source": "daemonset"},
            "status": {
                "phase": "NotReady",
                "ollama": {
                    "models": [f"llama3.2:latest {DIGEST_A[:12]} 2019393189 llama 3.2B Q4_K_M -"],
                    "loaded": [{"name": "llama3.2:latest"}],
                },
            },
        }
    )
    got = NodeFacts.from_node(node)
    assert got.labels == {"zone": "a"}
    assert not got.ready
    assert got.installed == {"llama3.2:latest": DIGEST_A[:12]}
    assert got.loaded == frozenset({"llama3.2:latest"})


# --- tasks --------------------------------------------------------------------------------


def test_a_pull_task_runs_on_its_nodes_and_succeeds() -> None:
    t = task({"action": "pull", "models": [{"name": "llama3.2"}], "nodes": ["a", "b"]})
    nodes = {"a": facts("a"), "b": facts("b"), "c": facts("c")}
    assert node_steps(nodes["c"], [t], [], T0) == []
    [step] = node_steps(nodes["a"], [t], [], T0)
    assert (step.action, step.model, step.source_uid) == ("pull", "llama3.2:latest", "u1")

    status = task_status(t, nodes, T0)
    assert (status.phase, status.selected, status.pending) == ("Pending", 2, 2)
    assert status.admitted is None

    nodes["a"] = with_activity(nodes["a"], act(step, "Running", completed_bytes=5, total_bytes=10))
    t.status = task_status(t, nodes, T0 + timedelta(seconds=1))
    assert (t.status.phase, t.status.running, t.status.start_time) == (
        "Running",
        1,
        T0 + timedelta(seconds=1),
    )
    running = next(o for o in t.status.nodes if o.node == "a")
    assert (running.completed_bytes, running.total_bytes) == (5, 10)

    nodes["a"] = with_activity(nodes["a"], act(step, "Succeeded", T0 + timedelta(seconds=2)))
    assert node_steps(nodes["a"], [t], [], T0) == []  # done: nothing more to do there
    b_step = node_steps(nodes["b"], [t], [], T0)[0]
    nodes["b"] = with_activity(nodes["b"], act(b_step, "Succeeded", T0 + timedelta(seconds=3)))
    t.status = task_status(t, nodes, T0 + timedelta(seconds=4))
    assert (t.status.phase, t.status.succeeded, t.status.failed) == ("Succeeded", 2, 0)
    assert t.status.completion_time == T0 + timedelta(seconds=4)
    complete = next(c for c in t.status.conditions if c.type == "Complete")
    assert complete.status == "True"
    # A finished task stays finished and plans nothing, whatever happens next.
    assert task_status(t, nodes, T0 + timedelta(hours=1)).phase == "Succeeded"
    assert node_steps(nodes["a"], [t], [], T0) == []


def test_a_failure_carries_ollamas_text_and_the_rest_carries_on() -> None:
    t = task({"action": "pull", "models": [{"name": "nosuch"}], "nodes": ["a", "b", "ghost"]})
    nodes = {"a": facts("a"), "b": facts("b")}
    step = node_steps(nodes["a"], [t], [], T0)[0]
    message = "pull model manifest: file does not exist"
    nodes["a"] = with_activity(
        nodes["a"], act(step, "Failed", reason="OllamaError", message=message)
    )
    status = task_status(t, nodes, T0)
    assert (status.phase, status.failed, status.pending) == ("Running", 2, 1)
    assert status.nodes[0].node == "a" and status.nodes[0].message == message
    ghost = next(o for o in status.nodes if o.node == "ghost")
    assert ghost.reason == "NodeNotFound"
    b_step = node_steps(nodes["b"], [t], [], T0)[0]
    nodes["b"] = with_activity(nodes["b"], act(b_step, "Succeeded"))
    final = task_status(t, nodes, T0)
    assert (final.phase, final.succeeded, final.failed) == ("Failed", 1, 2)
    failed = next(c for c in final.conditions if c.type == "Failed")
    assert failed.status == "True" and message in failed.message


def test_max_concurrent_admits_that_many_nodes_at_a_time() -> None:
    t = task({"action": "pull", "models": [{"name": "x"}], "nodeSelector": {}, "maxConcurrent": 2})
    nodes = {n: facts(n) for n in ("a", "b", "c", "d")}
    assert all(node_steps(f, [t], [], T0) == [] for f in nodes.values())  # nobody admitted yet
    t.status = task_status(t, nodes, T0)
    assert t.status.admitted == ["a", "b"]
    assert node_steps(nodes["c"], [t], [], T0) == []
    for n in ("a", "b"):
        step = node_steps(nodes[n], [t], [], T0)[0]
        nodes[n] = with_activity(nodes[n], act(step, "Succeeded"))
    t.status = task_status(t, nodes, T0)
    assert t.status.admitted == ["c", "d"]
    for n in ("c", "d"):
        step = node_steps(nodes[n], [t], [], T0)[0]
        nodes[n] = with_activity(nodes[n], act(step, "Succeeded"))
    t.status = task_status(t, nodes, T0)
    assert (t.status.phase, t.status.admitted) == ("Succeeded", [])


def test_cancel_stops_planning_and_ends_cancelled() -> None:
    t = task({"action": "pull", "models": [{"name": "x"}], "nodes": ["a"], "cancel": True})
    nodes = {"a": facts("a")}
    assert node_steps(nodes["a"], [t], [], T0) == []
    status = task_status(t, nodes, T0)
    assert status.phase == "Cancelled" and status.nodes[0].phase == "Cancelled"


def test_a_re_created_task_with_the_same_name_is_new_work() -> None:
    old = task({"action": "pull", "models": [{"name": "x"}], "nodes": ["a"]}, uid="old")
    node = facts("a")
    node = with_activity(node, act(node_steps(node, [old], [], T0)[0], "Succeeded"))
    new = task({"action": "pull", "models": [{"name": "x"}], "nodes": ["a"]}, uid="new")
    assert [s.source_uid for s in node_steps(node, [new], [], T0)] == ["new"]


def test_a_task_matching_no_node_fails_and_expires_after_its_ttl() -> None:
    t = task(
        {
            "action": "delete",
            "models": [{"name": "x"}],
            "nodeSelector": {"matchLabels": {"gpu": "none"}},
            "ttlSecondsAfterFinished": 60,
        }
    )
    t.status = task_status(t, {"a": facts("a")}, T0)
    assert t.status.phase == "Failed"
    assert next(c for c in t.status.conditions if c.type == "Failed").reason == "NoMatchingNodes"
    assert not task_expired(t, T0 + timedelta(seconds=59))
    assert task_expired(t, T0 + timedelta(seconds=60))


def test_status_is_stable_for_equal_inputs() -> None:
    t = task({"action": "pull", "models": [{"name": "x"}], "nodes": ["a", "b"]})
    nodes = {"a": facts("a"), "b": facts("b")}
    t.status = task_status(t, nodes, T0)
    assert task_status(t, nodes, T0 + timedelta(minutes=5)) == t.status


# --- model sets -----------------------------------------------------------------------------


def test_a_model_set_converges_with_at_most_max_concurrent_pulls() -> None:
    s = mset(
        {
            "models": [{"name": "llama3.2"}, {"name": "qwen2.5:7b"}],
            "nodeSelector": {"matchLabels": {"pool": "gpu"}},
            "maxConcurrentPulls": 1,
        }
    )
    nodes = {n: facts(n, labels={"pool": "gpu"}) for n in ("a", "b", "c")}
    nodes["cpu"] = facts("cpu", labels={"pool": "cpu"})
    now = T0
    for _round in range(10):
        s.status = modelset_status(s, nodes, now)
        assert len(s.status.admitted) <= 1
        pulling_nodes = 0
        for name, node in list(nodes.items()):
            steps = [st for st in node_steps(node, [], [s], now) if st.action == "pull"]
            if not steps:
                continue
            pulling_nodes += 1
            for st in steps:
                node = with_activity(node, act(st, "Succeeded", now, digest=DIGEST_A))
            installed = dict(node.installed) | {st.model: DIGEST_A[:12] for st in steps}
            nodes[name] = NodeFacts(
                name=name, labels=node.labels, installed=installed, activity=node.activity
            )
        assert pulling_nodes <= 1
        now += timedelta(seconds=1)
    s.status = modelset_status(s, nodes, now)
    assert (s.status.selected, s.status.ready, s.status.pulling) == (3, 3, 0)
    assert "cpu" not in [m.node for m in s.status.nodes]
    ready = next(c for c in s.status.conditions if c.type == "Ready")
    assert ready.status == "True"
    # A node that joins later and matches is selected and gets the models.
    nodes["d"] = facts("d", labels={"pool": "gpu"})
    s.status = modelset_status(s, nodes, now)
    assert (s.status.selected, s.status.ready, s.status.admitted) == (4, 3, ["d"])
    assert {st.model for st in node_steps(nodes["d"], [], [s], now)} == {
        "llama3.2:latest",
        "qwen2.5:7b",
    }


def test_a_percentage_limit_admits_a_share_of_the_selected_nodes() -> None:
    s = mset({"models": [{"name": "x"}], "maxConcurrentPulls": "50%"})
    nodes = {n: facts(n) for n in "abcd"}
    assert modelset_status(s, nodes, T0).admitted == ["a", "b"]


def test_a_failing_node_degrades_the_set_and_is_retried_after_back_off() -> None:
    s = mset({"models": [{"name": "x"}], "maxConcurrentPulls": 2})
    nodes = {"a": facts("a"), "b": facts("b", installed={"x:latest": DIGEST_A[:12]})}
    s.status = modelset_status(s, nodes, T0)
    step = node_steps(nodes["a"], [], [s], T0)[0]
    error = "max retries exceeded: dial tcp: lookup registry.ollama.ai: no such host"
    nodes["a"] = with_activity(nodes["a"], act(step, "Failed", reason="OllamaError", message=error))
    s.status = modelset_status(s, nodes, T0)
    assert (s.status.ready, s.status.failed) == (1, 1)
    degraded = next(c for c in s.status.conditions if c.type == "Degraded")
    assert degraded.status == "True" and error in degraded.message
    assert s.status.nodes[0].message == error
    assert node_steps(nodes["a"], [], [s], T0 + timedelta(minutes=1)) == []  # backing off
    later = T0 + RETRY_AFTER_FAILURE + timedelta(seconds=1)
    s.status = modelset_status(s, nodes, later)
    assert s.status.admitted == ["a"]
    assert [st.model for st in node_steps(nodes["a"], [], [s], later)] == ["x:latest"]


def test_drift_is_reported_and_a_pinned_digest_is_corrected() -> None:
    unpinned = mset({"models": [{"name": "x"}]})
    nodes = {
        "a": facts("a", installed={"x:latest": DIGEST_A[:12]}),
        "b": facts("b", installed={"x:latest": DIGEST_A[:12]}),
        "c": facts("c", installed={"x:latest": DIGEST_B[:12]}),
    }
    status = modelset_status(unpinned, nodes, T0)
    assert (status.ready, status.drifted) == (3, 1)
    assert [(m.node, m.drifted) for m in status.nodes] == [("c", ["x:latest"])]
    assert node_steps(nodes["c"], [], [unpinned], T0) == []  # reported, not corrected

    pinned = mset({"models": [{"name": "x", "digest": DIGEST_A}], "maxConcurrentPulls": 3})
    pinned.status = modelset_status(pinned, nodes, T0)
    assert (pinned.status.ready, pinned.status.waiting, pinned.status.admitted) == (2, 1, ["c"])
    [step] = node_steps(nodes["c"], [], [pinned], T0)
    assert (step.action, step.digest) == ("pull", DIGEST_A)


def test_keep_loaded_loads_for_ever_and_prune_spares_loaded_and_wanted_models() -> None:
    s = mset({"models": [{"name": "x"}], "keepLoaded": True, "prune": True})
    other = mset({"models": [{"name": "y"}]}, name="s2", uid="su2")
    node = facts(
        "a",
        installed={"x:latest": DIGEST_A[:12], "y:latest": None, "old:1": None, "busy:2": None},
        loaded=frozenset({"busy:2"}),
    )
    steps = node_steps(node, [], [s, other], T0)
    assert [(st.action, st.model, st.keep_alive) for st in steps] == [
        ("load", "x:latest", "-1"),
        ("delete", "old:1", None),
    ]
    status = modelset_status(s, {"a": node}, T0)
    assert (status.ready, status.waiting) == (0, 1)


def test_merge_activity_keeps_running_first_and_is_bounded() -> None:
    base = Step("OllamaTask", "t", "u", 1, "pull", "m0")
    entries: list[Activity] = []
    for i in range(MAX_ACTIVITY + 5):
        step = Step("OllamaTask", "t", "u", 1, "pull", f"m{i}")
        entries = merge_activity(entries, act(step, "Succeeded", T0 + timedelta(seconds=i)))
    entries = merge_activity(entries, act(base, "Running"))
    assert len(entries) == MAX_ACTIVITY
    assert entries[0].model == "m0" and entries[0].phase == "Running"
    assert entries[1].model == f"m{MAX_ACTIVITY + 4}"  # newest finished next
    assert len([e for e in entries if e.model == "m0"]) == 1


# --- benchmarks ---------------------------------------------------------------------------


def bench(spec: dict[str, Any], name: str = "b1", uid: str = "bu1", at: datetime = T0) -> Any:
    from obt.core.models.benchmark import OllamaBenchmark

    return OllamaBenchmark.model_validate(
        {
            "metadata": {"name": name, "uid": uid, "generation": 1, "creationTimestamp": at},
            "spec": spec,
        }
    )


def result_spec(b: Any, node: str, model: str, cached: bool = False) -> Any:
    from obt.core.bench import stats
    from obt.core.models.benchmark import OllamaBenchmarkResultSpec

    s = stats([10.0, 11.0, 12.0])
    return OllamaBenchmarkResultSpec.model_validate(
        {
            "benchmark": b.metadata.name,
            "benchmarkUid": b.metadata.uid,
            "node": node,
            "model": model,
            "fingerprint": "f" * 64,
            "facts": {
                "model": model,
                "modelDigest": DIGEST_A,
                "ollamaVersion": "0.6.0",
                "placement": "gpu",
                "options": {},
                "suiteHash": "h",
            },
            "placement": "gpu",
            "pp": s,
            "tg": s,
            "ttftMs": s,
            "promptTokens": 400,
            "generatedTokens": 128,
            "measuredAt": T0,
            "cached": cached,
        }
    )


def test_a_node_measures_one_benchmark_at_a_time_and_the_status_counts_reuse() -> None:
    first = bench({"models": [{"name": "x"}, {"name": "y"}], "nodes": ["a", "b"]})
    second = bench({"models": [{"name": "z"}], "nodes": ["a"]}, "b2", "bu2", T0 + timedelta(1))
    node = facts("a")
    steps = node_steps(node, [], [], T0, benchmarks=[second, first])
    assert [(s.source, s.action, s.model) for s in steps] == [
        ("b1", "benchmark", "x:latest"),
        ("b1", "benchmark", "y:latest"),
    ]
    for step in steps:
        node = with_activity(node, act(step, "Succeeded"))
    assert [s.source for s in node_steps(node, [], [], T0, benchmarks=[second, first])] == ["b2"]

    nodes = {"a": node, "b": facts("b")}
    b_step = node_steps(nodes["b"], [], [], T0, benchmarks=[first])[0]
    nodes["b"] = with_activity(
        nodes["b"],
        act(b_step, "Skipped", reason="DoesNotFit", message="needs 48Gi, has 24Gi"),
        act(
            Step("OllamaBenchmark", "b1", "bu1", 1, "benchmark", "y:latest"),
            "Running",
            message="repetition 2/5",
        ),
    )
    results = [
        ("r1", result_spec(first, "a", "x:latest")),
        ("r2", result_spec(first, "a", "y:latest", cached=True)),
        ("other", result_spec(second, "a", "z:latest")),
    ]
    status = benchmark_status(first, nodes, results, T0)
    assert (status.selected, status.done, status.ran, status.reused) == (4, 2, 1, 1)
    assert (status.skipped, status.running, status.phase) == (1, 1, "Running")
    skipped = next(p for p in status.nodes if p.phase == "Skipped")
    assert (skipped.node, skipped.reason) == ("b", "DoesNotFit")
    nodes["b"] = with_activity(
        nodes["b"],
        act(Step("OllamaBenchmark", "b1", "bu1", 1, "benchmark", "y:latest"), "Succeeded"),
    )
    results.append(("r3", result_spec(first, "b", "y:latest")))
    final = benchmark_status(first, nodes, results, T0)
    assert (final.phase, final.done, final.skipped) == ("Succeeded", 3, 1)
