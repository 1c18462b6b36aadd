"""A small Kubernetes API server for the test suite (real kopf, kubernetes_asyncio and kubectl
talk to it over HTTP on 127.0.0.1). See docs/performance.md for its figures.

Run it by hand and point kubectl at it:
    python -m tests.support.kube_api_server --port 8001 --kubeconfig /tmp/kubeconfig --crds crds/
    KUBECONFIG=/tmp/kubeconfig kubectl get ollamanodes

Thread model: the server lives on one event loop (the fixture runs it in a background thread);
every public method may be called from any thread and runs on that loop.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from tests.support import kube_patch
from tests.support.kube_errors import StatusError
from tests.support.kube_http import ApiHttp, Route
from tests.support.kube_resources import Registry, ResourceInfo
from tests.support.kube_store import CRD_KEY, Store, now

T = TypeVar("T")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    verb: str
    group: str
    version: str
    resource: str
    namespace: str | None
    name: str
    subresource: str
    user_agent: str
    client: str
    timestamp: float
    status: int | None = None
    authorization: str = ""

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS


@dataclass
class Faults:
    """Fault injection for reliability tests. Plain attributes: safe to flip from any thread."""

    paused: bool = False
    fail_status: int = 500
    fail_until: float = 0.0
    fail_filter: Callable[[RequestRecord], bool] | None = None
    _server: KubeApiServer | None = field(default=None, repr=False)

    def pause(self) -> None:
        """Hang every new request until resume() (an unresponsive API server)."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def fail(
        self,
        status: int = 500,
        seconds: float = 5.0,
        when: Callable[[RequestRecord], bool] | None = None,
    ) -> None:
        """Answer `status` (500 InternalError or 429 TooManyRequests with Retry-After: 1) to every
        request, or those `when` selects, for `seconds`."""
        self.fail_status = status
        self.fail_filter = when
        self.fail_until = time.monotonic() + seconds

    def heal(self) -> None:
        self.paused = False
        self.fail_until = 0.0

    def drop_watches(self) -> None:
        """End every open watch stream (clients must re-watch from their last resourceVersion)."""
        assert self._server is not None
        self._server.call(self._server._drop_watches)

    def expire_history(self) -> None:
        """Compact the watch history and end open watches: resuming from any resourceVersion
        a client holds now yields a 410 Expired ERROR event, so it must relist."""
        assert self._server is not None
        self._server.call(self._server._expire)

    async def gate(self, record: RequestRecord) -> None:
        while self.paused:  # noqa: ASYNC110 - flipped from other threads, so no asyncio.Event
            await asyncio.sleep(0.02)
        if time.monotonic() < self.fail_until and (
            self.fail_filter is None or self.fail_filter(record)
        ):
            if self.fail_status == 429:
                raise web.HTTPTooManyRequests(
                    text='{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                    '"message":"Too many requests, please try again later.",'
                    '"reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}',
                    content_type="application/json",
                    headers={"Retry-After": "1"},
                )
            raise StatusError(
                self.fail_status,
                "InternalError",
                "Internal error occurred: injected fault",
            )


class KubeApiServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, history_size: int = 1000) -> None:
        self.host = host
        self.port = port
        self.store = Store(Registry(), history_size)
        self.requests: list[RequestRecord] = []
        self.faults = Faults(_server=self)
        # Real kube-apiserver sends a bookmark about once a minute; tests want them sooner.
        self.bookmark_interval = 5.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.kubeconfig: str | None = None
        # Bearer tokens accepted (401 for any other); None: no authentication, the default.
        self.bearer_tokens: set[str] | None = None

    # Lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(ApiHttp(self).build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def write_kubeconfig(self, path: str | Path) -> str:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "obt-test", "cluster": {"server": self.url}}],
            "users": [{"name": "obt-test", "user": {"token": "obt-test-token"}}],
            "contexts": [
                {
                    "name": "obt-test",
                    "context": {"cluster": "obt-test", "user": "obt-test", "namespace": "default"},
                }
            ],
            "current-context": "obt-test",
        }
        Path(path).write_text(yaml.safe_dump(config))
        self.kubeconfig = str(path)
        return str(path)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn on the server's loop (directly when already there) and return its result."""
        loop = self.loop
        if loop is None or not loop.is_running():
            return fn(*args, **kwargs)
        try:
            if asyncio.get_running_loop() is loop:
                return fn(*args, **kwargs)
        except RuntimeError:
            pass
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as error:
                future.set_exception(error)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    # Request log ----------------------------------------------------------------------------

    def record_request(self, request: web.Request, route: Route) -> RequestRecord:
        agent = request.headers.get("User-Agent", "")
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query_string,
            verb=route.verb,
            group=route.group,
            version=route.version,
            resource=route.plural,
            namespace=route.namespace,
            name=route.name,
            subresource=route.subresource,
            user_agent=agent,
            client=request.headers.get("X-Client", agent),
            authorization=request.headers.get("Authorization", ""),
            timestamp=time.time(),
        )
        self.requests.append(record)
        return record

    def writes(
        self,
        user_agent_contains: str | None = None,
        resource: str | None = None,
        since: float | None = None,
    ) -> list[RequestRecord]:
        """Write requests (create/update/patch/delete/deletecollection) seen so far, optionally
        only those whose User-Agent (or X-Client tag) contains a string, on one resource
        (plural), after a time.time() stamp."""
        out = []
        for r in list(self.requests):
            if not r.is_write:
                continue
            if user_agent_contains and not (
                user_agent_contains in r.user_agent or user_agent_contains in r.client
            ):
                continue
            if resource and r.resource != resource:
                continue
            if since is not None and r.timestamp < since:
                continue
            out.append(r)
        return out

    def clear_requests(self) -> None:
        self.requests.clear()

    # State ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every object, CRD, request record, fault and required token; keep built-in
        discovery."""
        self.faults.heal()
        self.bearer_tokens = None
        self.call(self._reset)

    def _reset(self) -> None:
        self._drop_watches()
        self.store.reset()
        self.requests.clear()
        self.bookmark_interval = 5.0

    def _drop_watches(self) -> None:
        for watcher in list(self.store.watchers):
            watcher.queue.put_nowait(None)
        self.store.watchers.clear()

    def _expire(self) -> None:
        self.store.expire_history()
        self._drop_watches()

    def _info(self, api_version: str, kind: str) -> ResourceInfo:
        info = self.store.registry.find_kind(api_version, kind)
        if info is None:
            raise KeyError(f"no resource for apiVersion={api_version!r} kind={kind!r}")
        return info

    def apply_crd(self, crd: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a CustomResourceDefinition (its resources are served at once)."""

        def run() -> dict[str, Any]:
            info = self.store.infos[CRD_KEY]
            name = crd["metadata"]["name"]
            if ("", name) in self.store.bucket(info):
                body = copy.deepcopy(crd)
                body["metadata"].pop("resourceVersion", None)
                return self.store.update(info, "", name, body)[0]
            return self.store.create(info, crd)[0]

        return self.call(run)

    def load_crds(self, paths: Iterable[str | Path]) -> list[dict[str, Any]]:
        """Apply every CRD document in the given YAML files or directories."""
        out = []
        for path in paths:
            path = Path(path)
            files = (
                sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
                if path.is_dir()
                else [path]
            )
            for file in files:
                for doc in yaml.safe_load_all(file.read_text()):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        out.append(self.apply_crd(doc))
        return out

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Store any object as a client's POST would (no request record)."""
        info = self._info(obj["apiVersion"], obj["kind"])
        ns = (
            namespace
            or obj.get("metadata", {}).get("namespace")
            or ("default" if info.namespaced else "")
        )
        return self.call(lambda: self.store.create(info, obj, ns)[0])

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        info = self._info(api_version, kind)
        bucket = self.store.bucket(info)
        obj = bucket.get((namespace or "" if info.namespaced else "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        info = self._info(api_version, kind)
        return copy.deepcopy(self.call(self.store.list, info, namespace))

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str = "",
    ) -> dict[str, Any]:
        """Merge-patch an object (subresource="status" to play a controller or the kubelet)."""
        info = self._info(api_version, kind)
        ns = (namespace or "default") if info.namespaced else ""

        def run() -> dict[str, Any]:
            current = self.store.get(info, ns, name)
            body = kube_patch.merge_patch(current, patch)
            return self.store.update(info, ns, name, body, subresource)[0]

        return self.call(run)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        info = self._info(api_version, kind)
        ns = (namespace or "default") if info.namespaced else ""
        self.call(self.store.delete, info, ns, name)

    # The kubelet's part -------------------------------------------------------------------------

    def set_node_ready(
        self, name: str, ready: bool = True, labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Create the Node if missing, then set its Ready condition (as the kubelet / node
        lifecycle controller would)."""
        if self.get("v1", "Node", name) is None:
            self.create(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": labels or {}},
                }
            )
        condition = _condition("Ready", ready, "KubeletReady" if ready else "NodeStatusUnknown")
        return self.patch(
            "v1", "Node", name, {"status": {"conditions": [condition]}}, subresource="status"
        )

    def set_pod_ready(
        self,
        namespace: str,
        name: str,
        ready: bool = True,
        node_name: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create the Pod if missing (on node_name), then set phase Running and its Ready and
        ContainersReady conditions."""
        if self.get("v1", "Pod", name, namespace) is None:
            spec: dict[str, Any] = {"containers": [{"name": "agent", "image": "obt:test"}]}
            if node_name:
                spec["nodeName"] = node_name
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                "spec": spec,
            }
            self.create(pod, namespace)
        status = {
            "phase": "Running",
            "conditions": [
                _condition("Ready", ready, "" if ready else "ContainersNotReady"),
                _condition("ContainersReady", ready, "" if ready else "ContainersNotReady"),
            ],
        }
        return self.patch("v1", "Pod", name, {"status": status}, namespace, "status")

    def kopf_connection_info(self) -> Any:
        """For an explicit `@kopf.on.login` handler (kubeconfig login fails in KopfRunner)."""
        import kopf

        return kopf.ConnectionInfo(server=self.url, insecure=True, default_namespace="default")


def _condition(kind: str, ready: bool, reason: str) -> dict[str, Any]:
    out = {"type": kind, "status": "True" if ready else "False", "lastTransitionTime": now()}
    if reason:
        out["reason"] = reason
    return out


async def _serve(args: argparse.Namespace) -> None:
    server = KubeApiServer(port=args.port)
    await server.start()
    if args.kubeconfig:
        server.write_kubeconfig(args.kubeconfig)
    if args.crds:
        server.load_crds(args.crds)
    print(f"Kubernetes test API server on {server.url}", flush=True)
    if args.kubeconfig:
        print(f"export KUBECONFIG={args.kubeconfig}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for this server here")
    parser.add_argument("--crds", nargs="*", default=[], help="CRD YAML files or directories")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()


__all__ = ["Faults", "KubeApiServer", "RequestRecord"]
