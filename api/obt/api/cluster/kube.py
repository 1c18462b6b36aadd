"""Kubernetes access for the API: the light client of obt.core plus a streaming watch.

obt.core.kube's client has a total request timeout (fine for gets and patches, fatal for a watch),
so watches get their own aiohttp session with only a read timeout. Lines are split by hand: an
OllamaNode with hundreds of models is larger than aiohttp's readline limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from obt.core.kube import ApiError, KubeClient, KubeConfig, load_config
from obt.core.names import GROUP, VERSION
from obt.core.names import OLLAMANODES as PLURAL
from obt.core.names import REMOVAL_REASON as REMOVAL_REASON
from obt.core.version import __version__

NODES_PATH = f"/apis/{GROUP}/{VERSION}/{PLURAL}"
LEASES = "coordination.k8s.io", "v1", "leases"
# REMOVAL_REASON (obt.core.names) is set on an OllamaNode just before the API deletes it: the
# mirror records it in the tombstone instead of `Deleted` (e.g. `Decommissioned` for `obt node rm`).


def user_agent(identity: str) -> str:
    return f"obt-api/{__version__} ({identity})"


def make_client(kubeconfig: str | None, identity: str, context: str | None = None) -> KubeClient:
    return KubeClient(load_config(kubeconfig, context), user_agent=user_agent(identity))


class WatchStream:
    """One aiohttp session for long-lived watch requests (no total timeout)."""

    def __init__(
        self, config: KubeConfig, agent: str, read_timeout_s: float, connections: int = 2
    ) -> None:
        self.connections = connections  # one per concurrent watch, plus one spare
        self.config = config
        self.agent = agent
        self.read_timeout_s = read_timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    ssl=self.config.ssl_context(), limit=self.connections
                ),
                timeout=aiohttp.ClientTimeout(total=None, sock_read=self.read_timeout_s),
                headers={"User-Agent": self.agent, "Accept": "application/json"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def events(
        self, path: str, params: dict[str, str]
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the watch events in batches: whatever arrived in one read (one transaction
        downstream). HTTP errors raise ApiError (status 0: no answer)."""
        headers = {}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with self._client().get(
                self.config.server + path, params=params, headers=headers
            ) as response:
                if response.status >= 400:
                    if response.status == 401:  # an exec plugin's refused credential: renew
                        self.config.invalidate_exec_credential()
                    text = await response.text()
                    try:
                        body = json.loads(text)
                    except ValueError:
                        body = {"message": text[:200]}
                    raise ApiError(
                        response.status,
                        str(body.get("reason") or response.reason or ""),
                        str(body.get("message") or ""),
                        body,
                    )
                buffer = b""
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    if b"\n" not in buffer:
                        continue
                    *lines, buffer = buffer.split(b"\n")
                    batch = [json.loads(line) for line in lines if line.strip()]
                    if batch:
                        yield batch
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiError(0, "Unreachable", f"watch {path}: {exc or type(exc).__name__}") from exc
