"""Operator start-up: kopf's settings (each number explained), login, shared state in `memo`."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from obt.core.kube import KubeConfig, load_config
from obt.core.names import STANDALONE_LEASE_LABEL
from obt.operator.runtime import Clock, OperatorRuntime, utc_now
from obt.operator.settings import OperatorSettings

log = logging.getLogger(__name__)

clock: Clock = utc_now
"""The liveness clock the runtime is built with: silence, grace and removal windows are measured
on it (not the API-server blindness rule, which keeps the monotonic clock). Tests that measure
"not before" / "within" bounds replace it with a clock they move themselves."""


def obt_settings(memo: Any) -> OperatorSettings:
    """From `memo` when `obt operator` started kopf, else from the environment (`kopf run`)."""
    settings = memo.get("obt_settings")
    if settings is None:
        settings = memo["obt_settings"] = OperatorSettings()
    assert isinstance(settings, OperatorSettings)
    return settings


def kube_config(memo: Any) -> KubeConfig:
    """The kubeconfig named in settings, else the in-cluster service account, else the default
    kubeconfig ($KUBECONFIG or ~/.kube/config): obt.core.kube's loader, for kopf and for us."""
    config = memo.get("kube_config")
    if config is None:
        kube = obt_settings(memo).kube
        config = memo["kube_config"] = load_config(kube.kubeconfig, kube.context)
    assert isinstance(config, KubeConfig)
    return config


def kopf_info(config: KubeConfig) -> kopf.ConnectionInfo:
    return kopf.ConnectionInfo(
        server=config.server,
        ca_path=config.ca_file,
        ca_data=config.ca_data,
        insecure=config.insecure or None,
        scheme="Bearer" if config.bearer_token() else None,
        # Read now: a projected service-account token rotates, and kopf logs in again on a 401.
        token=config.bearer_token(),
        certificate_path=config.client_cert_file,
        private_key_path=config.client_key_file,
        default_namespace=config.namespace,
    )


async def login(memo: Any) -> kopf.ConnectionInfo:
    # An explicit login: kopf's default ones look for pykube or the sync `kubernetes` client, which
    # we do not install, and the kubeconfig fallback failed inside KopfRunner's thread.
    config = kube_config(memo)
    # kopf logs in again when the API server refuses its credentials (401): an exec plugin's
    # cached credential is then the refused one, so run the plugin afresh on every login.
    config.invalidate_exec_credential()
    return kopf_info(config)


async def configure(settings: kopf.OperatorSettings, memo: Any) -> None:
    obt = obt_settings(memo)
    # We post our own Events for transitions; kopf's per-handler Events would be noise (and writes).
    settings.posting.enabled = False
    # One active replica is chosen by our Lease election (obt.core.leader); kopf's peering is off.
    settings.peering.standalone = True
    # Server-side selectors: stream only agent pods and heartbeat Leases, not every pod and every
    # kubelet Lease of a 5,000-node cluster.
    settings.watching.label_selectors["v1", "pods"] = obt.operator.agent_selector
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
    state = OperatorRuntime(obt, kube_config(memo), clock)
    memo["state"] = state
    await state.start()
    log.info(
        "obt operator %s started: namespace %s, sweep every %gs, leader election %s",
        obt.kube.identity,
        obt.kube.namespace,
        obt.operator.liveness.sweep_interval_seconds,
        "on" if obt.operator.leader.enabled else "off",
    )


async def stop(memo: Any) -> None:
    state = memo.get("state")
    if isinstance(state, OperatorRuntime):
        await state.stop()
