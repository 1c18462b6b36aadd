"""Operator start-up: kopf's settings (each number explained), login, shared state in `memo`."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from obt.core.names import STANDALONE_LEASE_LABEL
from obt.operator.kube import Connection, load_connection
from obt.operator.settings import OperatorSettings
from obt.operator.state import OperatorState

log = logging.getLogger(__name__)


def obt_settings(memo: Any) -> OperatorSettings:
    """From `memo` when `obt operator` started kopf, else from the environment (`kopf run`)."""
    settings = memo.get("obt_settings")
    if settings is None:
        settings = memo["obt_settings"] = OperatorSettings()
    assert isinstance(settings, OperatorSettings)
    return settings


async def connection(memo: Any) -> Connection:
    conn = memo.get("connection")
    if conn is None:
        conn = memo["connection"] = await load_connection(obt_settings(memo).kube)
    assert isinstance(conn, Connection)
    return conn


async def login(memo: Any) -> kopf.ConnectionInfo:
    # An explicit login: kopf's default ones look for pykube or the sync `kubernetes` client, which
    # we do not install, and the kubeconfig fallback failed inside KopfRunner's thread.
    return (await connection(memo)).kopf_info()


async def configure(settings: kopf.OperatorSettings, memo: Any) -> None:
    obt = obt_settings(memo)
    # We post our own Events for transitions; kopf's per-handler Events would be noise (and writes).
    settings.posting.enabled = False
    # One active replica is chosen by our Lease election (leader.py); kopf's peering is off.
    settings.peering.standalone = True
    # Server-side selectors: stream only agent pods and heartbeat Leases, not every pod and every
    # kubelet Lease of a 5,000-node cluster.
    settings.watching.label_selectors["v1", "pods"] = obt.agent_selector
    settings.watching.label_selectors["coordination.k8s.io", "leases"] = STANDALONE_LEASE_LABEL
    # Ask the server to end each watch after 5 min (kube-apiserver picks 5-10 min itself); kopf
    # resumes from the last resourceVersion, so this only bounds how long a dead stream can hide.
    settings.watching.server_timeout = 300
    # A little more than the server's timeout: the client gives up only if the server did not.
    settings.watching.client_timeout = 330
    # Connecting to a healthy API server takes milliseconds; 10 s means it is not healthy.
    settings.watching.connect_timeout = 10
    # An idle per-object worker exits after 10 s: with 5,000 nodes x 3 resources, tasks come and go
    # with traffic instead of staying resident.
    settings.queueing.idle_timeout = 10.0
    # kopf logs every handled event at INFO; at 5,000 nodes that is the whole log.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    state = OperatorState(obt, await connection(memo))
    memo["state"] = state
    await state.start()
    log.info(
        "obt operator %s started: namespace %s, sweep every %gs, leader election %s",
        obt.identity,
        obt.namespace,
        obt.liveness.sweep_interval_seconds,
        "on" if obt.leader.enabled else "off",
    )


async def stop(memo: Any) -> None:
    state = memo.get("state")
    if isinstance(state, OperatorState):
        await state.stop()
