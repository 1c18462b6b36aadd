"""`obt operator`: run the kopf operator cluster-wide (liveness, conditions, cleanup)."""

from __future__ import annotations

import click

from obt.core.logging import configure_logging
from obt.core.settings import warn_unknown_variables


@click.command(name="operator")
@click.option("--kubeconfig", help="Kubeconfig file (default: in-cluster, else $KUBECONFIG).")
@click.option("--context", help="Kubeconfig context (default: its current one).")
@click.option("--namespace", help="OBT namespace: heartbeat Leases, leader Lease, Events [obt].")
@click.option("--listen", help="host:port for /healthz and /metrics ('' disables) [0.0.0.0:8882].")
@click.option("--identity", help="This replica's name (default: HOSTNAME-pid).")
@click.option("--leader-namespace", help="Namespace of the leader Lease (default: --namespace).")
@click.option("--leader-lease", help="Name of the leader Lease [obt-operator].")
@click.option(
    "--leader-election/--no-leader-election",
    default=None,
    help="Elect one active replica (off: this one always writes).",
)
@click.option("--sweep-interval", type=float, help="Seconds between sweeps [2].")
@click.option("--not-ready-after", type=float, help="Standalone host NotReady after N s [30].")
@click.option(
    "--remove-after", type=float, help="Remove a node whose agent is gone after N s [60]."
)
@click.option("--startup-grace", type=float, help="No removals for N s after start [60].")
@click.option(
    "--timing-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply every liveness timing (tests and demos use e.g. 0.1).",
)
def command(
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    listen: str | None,
    identity: str | None,
    leader_namespace: str | None,
    leader_lease: str | None,
    leader_election: bool | None,
    sweep_interval: float | None,
    not_ready_after: float | None,
    remove_after: float | None,
    startup_grace: float | None,
    timing_scale: float,
) -> None:
    """Run the operator: judge every OllamaNode's liveness from Kubernetes' own signals.

    Settings come from OBT_* environment variables (e.g. OBT_OPERATOR__LIVENESS__REMOVE_AFTER_SECONDS);
    options given here override them.
    """
    import kopf

    from obt.operator import handlers  # noqa: F401 - registers the handlers with kopf
    from obt.operator.settings import OperatorSettings

    try:
        settings = OperatorSettings()
    except ValueError as exc:  # a *_FILE that cannot be read, a value that does not parse
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log)
    warn_unknown_variables([OperatorSettings])
    kube = settings.kube.model_copy(
        update={
            k: v
            for k, v in {
                "kubeconfig": kubeconfig,
                "context": context,
                "namespace": namespace,
                "identity": identity,
            }.items()
            if v
        }
    )
    group = settings.operator
    leader = group.leader.model_copy(
        update={
            k: v
            for k, v in {
                "namespace": leader_namespace,
                "lease_name": leader_lease,
                "enabled": leader_election,
            }.items()
            if v is not None
        }
    )
    liveness = group.liveness.scaled(timing_scale) if timing_scale != 1.0 else group.liveness
    liveness = type(liveness).model_validate(
        {
            **liveness.model_dump(),
            **{
                k: v
                for k, v in {
                    "sweep_interval_seconds": sweep_interval,
                    "standalone_not_ready_after_seconds": not_ready_after,
                    "remove_after_seconds": remove_after,
                    "startup_grace_seconds": startup_grace,
                }.items()
                if v is not None
            },
        }
    )
    group = group.model_copy(
        update={
            "leader": leader,
            "liveness": liveness,
            **({"listen": listen} if listen is not None else {}),
        }
    )
    settings = settings.model_copy(update={"kube": kube, "operator": group})
    kopf.run(
        clusterwide=True,
        standalone=True,
        memo=kopf.Memo(obt_settings=settings),
    )
