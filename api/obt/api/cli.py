"""`obt api`: the API server for cluster mode (PostgreSQL; settings from OBT_* variables)."""

from __future__ import annotations

import click


@click.command(name="api")
@click.option("--host", default=None, help="Address to bind (default OBT_API__HOST, 0.0.0.0).")
@click.option("--port", default=None, type=int, help="Port (default OBT_API__PORT, 8881).")
def command(host: str | None, port: int | None) -> None:
    """Run the API server: REST + SSE + agent ingress on the database in OBT_DATABASE__URL.

    Cluster mode (mirroring OllamaNodes, standalone CRs and Leases) is switched on with
    OBT_KUBE__ENABLED=true.
    """
    import uvicorn

    from obt.api.app import create_app
    from obt.api.settings import ApiSettings
    from obt.api.static import find_dashboard
    from obt.core.logging import configure_logging
    from obt.core.settings import warn_unknown_variables

    try:
        settings = ApiSettings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log)
    warn_unknown_variables([ApiSettings])
    app = create_app(settings, dashboard=find_dashboard())
    uvicorn.run(
        app,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )
