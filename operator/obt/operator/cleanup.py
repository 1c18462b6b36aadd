"""Removing OllamaNodes whose agent is gone (the guards are decided before, in the sweep plan)."""

from __future__ import annotations

import logging

from obt.core.models import GROUP, PLURAL, VERSION
from obt.operator.kube import KubeClient

log = logging.getLogger(__name__)


def ollamanode_path(name: str, subresource: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/{PLURAL}/{name}"
    return f"{path}/{subresource}" if subresource else path


async def delete_ollamanode(client: KubeClient, name: str, uid: str) -> bool:
    """Delete exactly the object we judged (uid precondition: a re-created namesake survives).
    True when it was deleted, or was already gone (404 means the work is done)."""
    body = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"uid": uid},
        "propagationPolicy": "Background",
    }
    await client.request("DELETE", ollamanode_path(name), body)
    log.info("removed OllamaNode %s (uid %s): its agent is gone", name, uid)
    return True
