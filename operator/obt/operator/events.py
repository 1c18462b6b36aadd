"""Kubernetes Events (core/v1) for transitions, removals and guard warnings.

They go into the OBT namespace: `kubectl describe onode NAME` finds them there (it searches all
namespaces for a cluster-scoped object), and the operator's RBAC stays within its own namespace.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from obt.core.kube import KubeClient
from obt.core.models import API_VERSION, KIND

log = logging.getLogger(__name__)

COMPONENT = "obt-operator"


def event_body(
    *,
    namespace: str,
    regarding: dict[str, Any],
    reason: str,
    message: str,
    type_: str,
    now: datetime,
    identity: str,
) -> dict[str, Any]:
    stamp = now.isoformat().replace("+00:00", "Z")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{regarding['name']}.", "namespace": namespace},
        "involvedObject": regarding,
        "reason": reason,
        "message": message[:1024],
        "type": type_,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": identity,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def ollamanode_ref(name: str, uid: str) -> dict[str, Any]:
    return object_ref(KIND, name, uid)


def object_ref(kind: str, name: str, uid: str) -> dict[str, Any]:
    """A cluster-scoped OBT object (OllamaNode, OllamaTask, OllamaModelSet)."""
    return {"apiVersion": API_VERSION, "kind": kind, "name": name, "uid": uid}


async def post(client: KubeClient, body: dict[str, Any]) -> None:
    """Events are best effort: a failed Event never fails the write it reports."""
    namespace = body["metadata"]["namespace"]
    try:
        await client.request("POST", f"/api/v1/namespaces/{namespace}/events", body, retries=1)
    except Exception as error:  # an Event is worth a log line, not a failed sweep
        log.warning(
            "could not post Event %s for %s: %s",
            body["reason"],
            body["involvedObject"]["name"],
            error,
        )
