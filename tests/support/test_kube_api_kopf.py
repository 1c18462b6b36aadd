"""End to end with kopf (KopfRunner, cluster-wide, default peering without peering CRDs):
create/update/delete handlers, finalizer added and removed, a timer, an Event posted, status
patched."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import kopf
from kopf.testing import KopfRunner

from tests.support.kube_api_server import KubeApiServer

API = "obt.dev/v1alpha1"
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def make_registry(server: KubeApiServer, seen: dict[str, list[Any]]) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    resource = ("obt.dev", "v1alpha1", "ollamanodes")

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # kopf's kubeconfig login fails inside KopfRunner's thread; connect explicitly.
        return server.kopf_connection_info()

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Short waits so the test ends quickly; no effect on what is observed.
        settings.watching.server_timeout = 10
        settings.posting.level = 0

    @kopf.on.create(*resource, registry=registry)
    def created(name: str, patch: kopf.Patch, body: kopf.Body, **_: Any) -> None:
        seen["create"].append(name)
        patch.status["phase"] = "Ready"
        kopf.info(body, reason="Judged", message=f"{name} is Ready")

    @kopf.on.update(*resource, field="spec.source", registry=registry)
    def updated(name: str, new: Any, **_: Any) -> None:
        seen["update"].append((name, new))

    @kopf.on.delete(*resource, registry=registry)
    def deleted(name: str, **_: Any) -> None:
        seen["delete"].append(name)

    @kopf.timer(*resource, interval=0.2, registry=registry)
    def tick(name: str, **_: Any) -> None:
        seen["timer"].append(name)

    return registry


def test_kopf_operator_end_to_end(kube_api: KubeApiServer) -> None:
    seen: dict[str, list[Any]] = {"create": [], "update": [], "delete": [], "timer": []}
    registry = make_registry(kube_api, seen)
    node = {
        "apiVersion": API,
        "kind": "OllamaNode",
        "metadata": {"name": "gpu-1"},
        "spec": {"source": "daemonset", "nodeName": "gpu-1"},
    }
    with KopfRunner(
        ["run", "--all-namespaces", "--verbose"], registry=registry, timeout=30
    ) as runner:
        wait_for(
            "kopf to list namespaces and watch",
            lambda: any(
                r.verb == "watch" and r.resource == "ollamanodes" for r in kube_api.requests
            ),
        )
        kube_api.create(node)

        obj = wait_for(
            "status patched by the create handler",
            lambda: (
                (o := kube_api.get(API, "OllamaNode", "gpu-1"))
                and (o.get("status") or {}).get("phase") == "Ready"
                and o
            ),
        )
        assert seen["create"] == ["gpu-1"]
        assert FINALIZER in obj["metadata"]["finalizers"]
        wait_for(
            "an Event",
            lambda: [
                e
                for e in kube_api.list_objects("v1", "Event", "default")
                if e["involvedObject"]["name"] == "gpu-1" and e["reason"] == "Judged"
            ],
        )
        wait_for("the timer", lambda: len(seen["timer"]) >= 2)

        kube_api.patch(API, "OllamaNode", "gpu-1", {"spec": {"source": "standalone"}})
        wait_for("the update handler", lambda: seen["update"])
        assert seen["update"][0] == ("gpu-1", "standalone")

        kube_api.delete(API, "OllamaNode", "gpu-1")
        wait_for(
            "the delete handler and finalizer removal",
            lambda: seen["delete"] and kube_api.get(API, "OllamaNode", "gpu-1") is None,
        )

    assert runner.exit_code == 0, runner.output
    assert runner.exception is None
    kopf_writes = kube_api.writes(user_agent_contains="kopf", resource="ollamanodes")
    assert any(w.verb == "patch" for w in kopf_writes)
    assert kube_api.writes(user_agent_contains="kopf", resource="events")
