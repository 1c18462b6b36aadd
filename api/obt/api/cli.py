"""`obt api`: the API server for cluster mode (PostgreSQL; settings from OBT_* variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

tls_cert_option = click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM certificate (chain): serve HTTPS without a reverse proxy [env OBT_API__TLS_CERT].",
)
tls_key_option = click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM private key of --tls-cert [env OBT_API__TLS_KEY].",
)


def tls_arguments(cert: Path | None, key: Path | None) -> dict[str, Any]:
    """uvicorn's keyword arguments for HTTPS (empty for plain HTTP), after checking the files."""
    from obt.api.settings import check_tls_files

    try:
        check_tls_files(cert, key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if cert is None or key is None:
        return {}
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


@click.command(name="api")
@click.option("--host", default=None, help="Address to bind (default OBT_API__HOST, 0.0.0.0).")
@click.option("--port", default=None, type=int, help="Port (default OBT_API__PORT, 8881).")
@click.option(
    "--forwarded-allow-ips",
    envvar="FORWARDED_ALLOW_IPS",
    default=None,
    help="Trusted proxies (comma-separated IPs or CIDRs, '*' for any) whose X-Forwarded-For is "
    "taken as the client address, e.g. for per-address rate limits behind an Ingress "
    "(default FORWARDED_ALLOW_IPS, else loopback only).",
)
@tls_cert_option
@tls_key_option
def command(
    host: str | None,
    port: int | None,
    forwarded_allow_ips: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Run the API server: REST + SSE + agent ingress on the database in OBT_DATABASE__URL.

    Cluster mode (mirroring OllamaNodes, standalone CRs and Leases) is switched on with
    OBT_API__CLUSTER__ENABLED=true. With --tls-cert and --tls-key it serves HTTPS itself.
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
    tls = tls_arguments(tls_cert or settings.api.tls_cert, tls_key or settings.api.tls_key)
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
        forwarded_allow_ips=forwarded_allow_ips,
        **tls,
    )
