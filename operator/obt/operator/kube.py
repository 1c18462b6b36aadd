"""API server access: where it is and how to log in, and the operator's own small write client.

kopf reads with its own session (User-Agent `kopf/...`); every write of ours goes through `KubeClient`,
whose User-Agent names this replica, so writes can be counted and attributed per replica.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

from obt.operator.settings import KubeSettings

log = logging.getLogger(__name__)

RETRIED_STATUSES = (409, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Connection:
    server: str
    ca_path: str | None = None
    insecure: bool = False
    token: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    default_namespace: str | None = None

    def kopf_info(self) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=self.server,
            ca_path=self.ca_path,
            insecure=self.insecure or None,
            scheme="Bearer" if self.token else None,
            token=self.token,
            certificate_path=self.cert_path,
            private_key_path=self.key_path,
            default_namespace=self.default_namespace,
        )

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if self.insecure:
            return False
        context = ssl.create_default_context(cafile=self.ca_path)
        if self.cert_path and self.key_path:
            context.load_cert_chain(self.cert_path, self.key_path)
        return context


async def load_connection(settings: KubeSettings) -> Connection:
    """From the kubeconfig named in settings, else the in-cluster service account, else the default
    kubeconfig ($KUBECONFIG or ~/.kube/config). kubernetes_asyncio parses the formats."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    if settings.kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            await config.load_kube_config(
                context=settings.context, client_configuration=configuration
            )
    else:
        await config.load_kube_config(
            config_file=settings.kubeconfig,
            context=settings.context,
            client_configuration=configuration,
        )
    auth = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get(
        "BearerToken"
    )
    token = auth.split(" ", 1)[-1] if auth else None
    return Connection(
        server=(configuration.host or "").rstrip("/"),
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        token=token,
        cert_path=configuration.cert_file,
        key_path=configuration.key_file,
    )


class ApiError(Exception):
    def __init__(self, status: int, body: str, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:300]}")
        self.status = status


class KubeClient:
    """The operator's writes (and the leader Lease's reads), each with a timeout.

    `last_ok` is the monotonic time of the last answered request: the operator's evidence that it
    can see the API server. Silence measured while it could not see is not the nodes' silence.
    """

    def __init__(
        self, connection: Connection, user_agent: str, timeout_seconds: float = 5.0
    ) -> None:
        self.connection = connection
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if connection.token:
            headers["Authorization"] = f"Bearer {connection.token}"
        self._session: aiohttp.ClientSession | None = None
        self._headers = headers
        self.last_ok = time.monotonic()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(ssl=self.connection.ssl_context(), limit=20),
                timeout=self.timeout,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
        retries: int = 2,
    ) -> dict[str, Any] | None:
        """JSON in, JSON out; None on 404. Retries 409/429/5xx a few times (a sweep retries later)."""
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if body is not None else {}
        for attempt in range(retries + 1):
            async with self.session.request(
                method, self.connection.server + path, data=data, headers=headers
            ) as response:
                text = await response.text()
                self.last_ok = time.monotonic()
                if response.status == 404:
                    return None
                if response.status < 300:
                    result: dict[str, Any] = json.loads(text) if text else {}
                    return result
                if response.status in RETRIED_STATUSES and attempt < retries:
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                raise ApiError(response.status, text, f"{method} {path}")
        raise AssertionError("unreachable")

    async def patch_merge(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return await self.request("PATCH", path, body, "application/merge-patch+json")
