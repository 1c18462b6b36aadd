"""A light Kubernetes client: enough to read Nodes and get/create/merge-patch custom objects.

Why not kubernetes_asyncio: importing it costs about 71 MiB of RSS, more than the agent's whole
budget (docs/agent.md). This module needs only aiohttp and PyYAML. It loads the in-cluster
configuration (service-account token + CA) or a kubeconfig file, and turns every error answer
into an `ApiError` that carries the status code and the API server's Status message.

This is the project's one Kubernetes client: the agent, the API and the operator all use it (the
operator with retries and its `last_ok` clock); kopf reads with its own session. aiohttp is
imported here, at module level: of `obt.core`'s other modules only `leader` imports this one, so
the rest of `obt.core` stays importable without aiohttp.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from obt.core.kube_exec import ExecPlugin, ExecPluginError
from obt.core.version import __version__

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_USER_AGENT = f"obt/{__version__}"
MERGE_PATCH = "application/merge-patch+json"
RETRIED_STATUSES = frozenset((409, 429, 500, 502, 503, 504))
"""Answers worth another try when a caller asks for retries (a conflict, a busy or failing server)."""

JsonObject = dict[str, Any]


class ConfigError(RuntimeError):
    """No usable cluster configuration (no service account, no kubeconfig, unsupported auth,
    an exec credential plugin that fails)."""


# The exec plugins that replaced the removed auth-provider plugins, for the refusal's message.
AUTH_PROVIDER_SUCCESSORS = {
    "gcp": "gke-gcloud-auth-plugin",
    "azure": "kubelogin (Azure)",
    "oidc": "kubelogin (int128/kubelogin, `oidc-login`)",
}


class ApiError(RuntimeError):
    """An error answer from the API server (or no answer at all: status 0)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        body: JsonObject | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        # Seconds the server asked the client to wait (429 and some 5xx answers), else None.
        self.retry_after = retry_after

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def too_many_requests(self) -> bool:
        return self.status == 429


def parse_retry_after(header: str | None, body: JsonObject | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds form, the only one the API
    server sends) or, failing that, the Status body's details.retryAfterSeconds."""
    if header:
        try:
            seconds = float(header.strip())
        except ValueError:
            seconds = -1.0  # an HTTP-date: not sent by kube-apiserver; fall back to the body
        if seconds >= 0:
            return seconds
    details = (body or {}).get("details")
    if isinstance(details, dict):
        value = details.get("retryAfterSeconds")
        if isinstance(value, int | float) and value >= 0:
            return float(value)
    return None


@dataclass
class KubeConfig:
    server: str
    token: str | None = None
    token_file: Path | None = None
    ca_file: str | None = None
    ca_data: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    insecure: bool = False
    namespace: str = "default"
    exec_plugin: ExecPlugin | None = None
    # Bumped whenever an exec plugin hands out another client certificate: sessions built on
    # the old one must be rebuilt (the certificate lives in the TLS context).
    credential_generation: int = 0
    _temp_files: list[str] = field(default_factory=list, repr=False)
    _exec_cert: tuple[str, str] | None = field(default=None, repr=False)

    def remove_temp_files(self) -> None:
        for name in self._temp_files:
            Path(name).unlink(missing_ok=True)
        self._temp_files.clear()

    def bearer_token(self) -> str | None:
        if self.exec_plugin is not None:
            token = self.refresh_exec_credential()
            if token:
                return token
        # Projected service-account tokens rotate: read the file on every request.
        if self.token_file is not None:
            return self.token_file.read_text().strip()
        return self.token

    def refresh_exec_credential(self) -> str | None:
        """Run the exec plugin when its credential is missing or expired (else reuse it); put
        a client certificate it gave in place. The token it gave, if any. The plugin runs in
        the calling thread, blocking an event loop while it runs, as kubernetes_asyncio's loader
        does: once per credential lifetime (typically 15 minutes to an hour), not per request."""
        assert self.exec_plugin is not None
        try:
            credential = self.exec_plugin.credential()
        except ExecPluginError as exc:
            raise ConfigError(str(exc)) from exc
        cert, key = credential.client_certificate_data, credential.client_key_data
        if cert and key and (cert, key) != self._exec_cert:
            self._exec_cert = (cert, key)
            self.client_cert_file = _pem_file(self, cert)
            self.client_key_file = _pem_file(self, key)
            self.credential_generation += 1
        return credential.token

    def invalidate_exec_credential(self) -> bool:
        """After a 401: forget the exec plugin's credential; True when there was a plugin (so
        the request is worth one more try with a fresh credential)."""
        if self.exec_plugin is None:
            return False
        self.exec_plugin.invalidate()
        return True

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if self.exec_plugin is not None:
            self.refresh_exec_credential()  # a client certificate must be in place first
        if self.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
        if self.client_cert_file:
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context


def in_cluster_config() -> KubeConfig:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token_file = SERVICE_ACCOUNT_DIR / "token"
    if not host or not token_file.exists():
        raise ConfigError(
            "not in a pod: KUBERNETES_SERVICE_HOST is unset or the service-account token "
            f"{token_file} is missing"
        )
    if ":" in host:
        host = f"[{host}]"
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    return KubeConfig(
        server=f"https://{host}:{port}",
        token_file=token_file,
        ca_file=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
    )


def _data_file(config: KubeConfig, data: str) -> str:
    fd, name = tempfile.mkstemp(prefix="obt-kube-")  # mode 0600: it may hold a private key
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(data))
    config._temp_files.append(name)
    return name


def _pem_file(config: KubeConfig, text: str) -> str:
    fd, name = tempfile.mkstemp(prefix="obt-kube-")  # mode 0600: it may hold a private key
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    config._temp_files.append(name)
    return name


def kubeconfig_config(path: str | Path | None = None, context: str | None = None) -> KubeConfig:
    """Load a kubeconfig file ($KUBECONFIG's first entry or ~/.kube/config by default)."""
    if path is None:
        path = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[
            0
        ] or Path.home() / ".kube" / "config"
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc}") from exc

    def named(section: str, name: str) -> JsonObject:
        for entry in document.get(section) or []:
            if entry.get("name") == name:
                found: JsonObject = entry.get(section[:-1]) or {}
                return found
        raise ConfigError(f"kubeconfig {path}: no {section[:-1]} named {name!r}")

    context_name = context or document.get("current-context")
    if not context_name:
        raise ConfigError(f"kubeconfig {path}: no current-context and none given")
    ctx = named("contexts", context_name)
    cluster = named("clusters", ctx["cluster"])
    user = named("users", ctx["user"]) if ctx.get("user") else {}
    if "auth-provider" in user:
        provider = (user.get("auth-provider") or {}).get("name") or "?"
        successor = AUTH_PROVIDER_SUCCESSORS.get(provider, "the exec plugin of your provider")
        raise ConfigError(
            f"kubeconfig {path}: user {ctx.get('user')!r} uses the auth-provider plugin "
            f"{provider!r}, which Kubernetes deprecated and OBT does not run; use its exec "
            f"credential plugin instead ({successor}), e.g. by fetching the kubeconfig again "
            "with your provider's current CLI"
        )
    exec_plugin = None
    if "exec" in user:
        try:
            exec_plugin = ExecPlugin.from_kubeconfig(
                user["exec"] or {}, path.parent, str(ctx.get("user"))
            )
        except ExecPluginError as exc:
            raise ConfigError(f"kubeconfig {path}: {exc}") from exc
    base = path.parent
    config = KubeConfig(
        server=str(cluster["server"]).rstrip("/"),
        token=user.get("token"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        namespace=ctx.get("namespace") or "default",
        exec_plugin=exec_plugin,
    )
    if user.get("tokenFile"):
        config.token_file = base / user["tokenFile"]
    if cluster.get("certificate-authority-data"):
        config.ca_data = base64.b64decode(cluster["certificate-authority-data"]).decode()
    elif cluster.get("certificate-authority"):
        config.ca_file = str(base / cluster["certificate-authority"])
    if user.get("client-certificate-data"):
        config.client_cert_file = _data_file(config, user["client-certificate-data"])
    elif user.get("client-certificate"):
        config.client_cert_file = str(base / user["client-certificate"])
    if user.get("client-key-data"):
        config.client_key_file = _data_file(config, user["client-key-data"])
    elif user.get("client-key"):
        config.client_key_file = str(base / user["client-key"])
    return config


def load_config(kubeconfig: str | Path | None = None, context: str | None = None) -> KubeConfig:
    """An explicit kubeconfig, else the in-cluster configuration, else the default kubeconfig
    ($KUBECONFIG or ~/.kube/config). `context` picks a kubeconfig context (default: its current)."""
    if kubeconfig:
        return kubeconfig_config(kubeconfig, context)
    try:
        return in_cluster_config()
    except ConfigError:
        return kubeconfig_config(context=context)


def _parse(text: str) -> Any:
    """JSON (what the API server sends), else YAML; JSON first: YAML parsing of a 500-object list
    costs far more."""
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text)


def custom_path(
    group: str, version: str, plural: str, name: str | None = None, namespace: str | None = None
) -> str:
    path = f"/apis/{group}/{version}"
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    return f"{path}/{name}" if name else path


class KubeClient:
    """`async with KubeClient(config) as kube:`; one aiohttp session for the client's life.

    Every error answer raises `ApiError` (404 included: `error.not_found`); no answer at all is
    `ApiError` with status 0. `retries` (per client, or per request) retries `RETRIED_STATUSES`
    with a short growing pause; 0 by default, because most callers retry on their own schedule.

    `last_ok` is the monotonic time of the last request the API server answered (with any status):
    the operator's evidence that it can see the server. Silence measured while it could not see
    is not the nodes' silence (the "blind" rule in obt.core.liveness).
    """

    def __init__(
        self,
        config: KubeConfig,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = 10.0,
        *,
        retries: int = 0,
        connections: int = 4,
    ) -> None:
        self.config = config
        self.user_agent = user_agent
        self.timeout = timeout
        self.retries = retries
        self.connections = connections
        self.last_ok = time.monotonic()
        self._session: aiohttp.ClientSession | None = None
        self._generation = config.credential_generation

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.config.remove_temp_files()

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_context = self.config.ssl_context()
            self._generation = self.config.credential_generation
            connector = aiohttp.TCPConnector(ssl=ssl_context, limit=self.connections)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: JsonObject | None = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
        retries: int | None = None,
    ) -> JsonObject:
        """JSON in, JSON out; `ApiError` on an error answer or none. `retries` overrides the
        client's own for this request."""
        attempts = (self.retries if retries is None else retries) + 1
        reauthenticated = False
        attempt = 0
        while True:
            try:
                return await self._request_once(method, path, body, content_type, params)
            except ApiError as error:
                if error.status == 401 and not reauthenticated:
                    # An exec plugin's credential the server no longer takes (revoked, or
                    # expired before its expirationTimestamp): run the plugin again, once.
                    reauthenticated = True
                    if self.config.invalidate_exec_credential():
                        continue
                attempt += 1
                if error.status not in RETRIED_STATUSES or attempt >= attempts:
                    raise
            await asyncio.sleep(0.2 * attempt)

    async def _request_once(
        self,
        method: str,
        path: str,
        body: JsonObject | None,
        content_type: str,
        params: dict[str, str] | None,
    ) -> JsonObject:
        headers: dict[str, str] = {}
        token = self.config.bearer_token()
        if self._session is not None and self._generation != self.config.credential_generation:
            await self._session.close()  # built on a client certificate that was replaced
            self._session = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = content_type
        url = self.config.server + path
        try:
            async with self._client_session().request(
                method, url, json=body, headers=headers, params=params
            ) as response:
                text = await response.text()
                status = response.status
                reason = response.reason or ""
                retry_after_header = response.headers.get("Retry-After")
            self.last_ok = time.monotonic()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiError(
                0, "Unreachable", f"{method} {path}: {exc or type(exc).__name__}"
            ) from exc
        try:
            data = _parse(text) if text else {}
        except yaml.YAMLError:
            data = {"message": text[:200]}
        if not isinstance(data, dict):
            data = {"message": str(data)[:200]}
        if status >= 400:
            raise ApiError(
                status,
                str(data.get("reason") or reason),
                str(data.get("message") or text[:200]),
                data,
                retry_after=parse_retry_after(retry_after_header, data),
            )
        return data

    # Core objects -----------------------------------------------------------------------------

    async def get_node(self, name: str) -> JsonObject:
        return await self.request("GET", f"/api/v1/nodes/{name}")

    # Custom objects ---------------------------------------------------------------------------

    async def get_custom(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        namespace: str | None = None,
        from_cache: bool = False,
    ) -> JsonObject:
        """GET one object; `from_cache` asks for resourceVersion=0, which the API server answers
        from its watch cache without a quorum read from etcd."""
        params = {"resourceVersion": "0"} if from_cache else None
        path = custom_path(group, version, plural, name, namespace)
        return await self.request("GET", path, params=params)

    async def create_custom(
        self, group: str, version: str, plural: str, body: JsonObject, namespace: str | None = None
    ) -> JsonObject:
        return await self.request(
            "POST", custom_path(group, version, plural, None, namespace), body
        )

    async def merge_patch_custom(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        patch: JsonObject,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JsonObject:
        path = custom_path(group, version, plural, name, namespace)
        if subresource:
            path += f"/{subresource}"
        return await self.request("PATCH", path, patch, content_type=MERGE_PATCH)

    async def merge_patch_custom_status(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        patch: JsonObject,
        namespace: str | None = None,
    ) -> JsonObject:
        return await self.merge_patch_custom(
            group, version, plural, name, patch, namespace, subresource="status"
        )

    async def replace_custom(
        self,
        group: str,
        version: str,
        plural: str,
        name: str,
        body: JsonObject,
        namespace: str | None = None,
    ) -> JsonObject:
        """PUT the whole object; its metadata.resourceVersion makes it conditional (409 when
        another write came first)."""
        return await self.request("PUT", custom_path(group, version, plural, name, namespace), body)

    async def delete_custom(
        self, group: str, version: str, plural: str, name: str, namespace: str | None = None
    ) -> JsonObject:
        """DELETE one object; `ApiError.not_found` when it is gone already."""
        return await self.request("DELETE", custom_path(group, version, plural, name, namespace))
