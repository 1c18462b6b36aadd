"""HTTP surface of the test API server: URL routing, verbs, content negotiation and watch streams.

URL layout and verbs: https://kubernetes.io/docs/reference/using-api/api-concepts/
Watch protocol: newline-delimited `{"type": ..., "object": ...}`; an expired resourceVersion is
answered 200 with an ERROR event carrying a 410 Expired Status (the watch cache's behaviour,
"Efficient detection of changes" in the page above).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from tests.support import kube_patch, kube_schema, kube_table
from tests.support.kube_errors import StatusError, bad_request, gone
from tests.support.kube_resources import EXTRA_FIELD_LABELS, ResourceInfo
from tests.support.kube_selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from tests.support.kube_store import Watcher

if TYPE_CHECKING:
    from tests.support.kube_api_server import KubeApiServer

TRUE = ("true", "True", "1")
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "obt-test-api-server",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
PATCH_TYPES_CR = (
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)


@dataclass
class Route:
    kind: str  # discovery | resource | other
    root: str = ""  # api | apis
    group: str = ""
    version: str = ""
    info: ResourceInfo | None = None
    plural: str = ""
    namespace: str | None = None
    name: str = ""
    subresource: str = ""
    verb: str = "get"


ROUTE: web.RequestKey[Route] = web.RequestKey("route", Route)


def _verb(method: str, name: str, watch: bool) -> str:
    if method == "GET":
        return "watch" if watch else ("get" if name else "list")
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return method.lower()


def _json(data: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join(f'299 - "{w}"' for w in warnings)
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


class ApiHttp:
    def __init__(self, server: KubeApiServer) -> None:
        self.server = server
        self.store = server.store
        self.registry = server.store.registry

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    # Routing ------------------------------------------------------------------------------------

    def parse(self, request: web.Request) -> Route:
        segs = [s for s in request.path.split("/") if s]
        watch = request.query.get("watch", "") in TRUE
        if not segs or segs[0] not in ("api", "apis"):
            return Route("other", verb="get")
        if segs[0] == "api":
            if len(segs) < 3:
                return Route("discovery", "api", version=segs[1] if len(segs) > 1 else "")
            group, version, rest = "", segs[1], segs[2:]
        else:
            if len(segs) < 4:
                return Route(
                    "discovery",
                    "apis",
                    group=segs[1] if len(segs) > 1 else "",
                    version=segs[2] if len(segs) > 2 else "",
                )
            group, version, rest = segs[1], segs[2], segs[3:]
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = self.registry.get(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = "/".join(rest[2:])
        info = self.registry.get(group, version, plural)
        return Route(
            "resource",
            segs[0],
            group,
            version,
            info,
            plural,
            namespace,
            name,
            sub,
            _verb(request.method, name, watch),
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = self.parse(request)
        request[ROUTE] = route
        record = self.server.record_request(request, route)
        try:
            self.authenticate(request)
            await self.server.faults.gate(record)
            response = await handler(request)
        except StatusError as error:
            response = _json(error.status(), error.code)
        except web.HTTPException:
            raise
        record.status = response.status
        return response

    def authenticate(self, request: web.Request) -> None:
        """With `server.bearer_tokens` set, only those tokens get in (401 like kube-apiserver's
        authentication); unset (the default), anyone does."""
        tokens = self.server.bearer_tokens
        if tokens is None or request.path in ("/healthz", "/livez", "/readyz"):
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in tokens:
            raise StatusError(401, "Unauthorized", "Unauthorized")

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        route: Route = request[ROUTE]
        if request.path == "/version":
            return _json(VERSION)
        if request.path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if request.path.startswith("/openapi/"):
            return self.openapi(request.path)
        if route.kind == "discovery":
            return self.discovery(route)
        if route.kind != "resource":
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        info = route.info
        if info is None or (
            route.subresource and not (route.subresource == "status" and info.has_status)
        ):
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        namespace = route.namespace if info.namespaced else ""
        if info.namespaced and route.name and namespace is None:
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        method = request.method
        if method == "GET" and route.verb == "watch":
            return await self.watch(request, info, route.namespace)
        if method == "GET" and not route.name:
            return self.list(request, info, route.namespace)
        if method == "GET":
            obj = self.store.get(info, namespace or "", route.name)
            return self.respond_object(request, info, obj)
        if method == "POST" and not route.name:
            if info.namespaced and namespace is None:
                raise StatusError(405, "MethodNotAllowed", "POST is not supported on this path")
            return await self.create(request, info, namespace or "")
        if method == "PUT" and route.name:
            return await self.update(request, info, namespace or "", route)
        if method == "PATCH" and route.name:
            return await self.patch(request, info, namespace or "", route)
        if method == "DELETE" and route.name:
            return await self.delete(request, info, namespace or "", route.name)
        if method == "DELETE":
            return await self.delete_collection(request, info, route.namespace)
        raise StatusError(405, "MethodNotAllowed", f"{method} is not supported on this path")

    # Discovery and OpenAPI ------------------------------------------------------------------

    def discovery(self, route: Route) -> web.Response:
        # Aggregated discovery (Accept: ...;as=APIGroupDiscoveryList) is answered with the legacy
        # documents and a plain application/json Content-Type, which makes client-go fall back.
        reg = self.registry
        doc: dict[str, Any] | None
        if route.root == "api" and not route.version:
            doc = reg.api_versions(self.server.address)
        elif route.root == "apis" and not route.group:
            doc = reg.api_group_list()
        elif route.group and not route.version:
            doc = reg.api_group(route.group)
        else:
            doc = reg.resource_list(route.group, route.version)
        if doc is None:
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        return _json(doc)

    def openapi(self, path: str) -> web.Response:
        infos = list(self.registry.by_gvr.values())
        if path.rstrip("/") == "/openapi/v2":
            return _json(kube_schema.openapi_v2_document(infos))
        by_gv: dict[str, list[ResourceInfo]] = {}
        for info in infos:
            by_gv.setdefault(info.api_version, []).append(info)
        if path.rstrip("/") == "/openapi/v3":
            return _json(kube_schema.openapi_v3_index(by_gv))
        rest = path[len("/openapi/v3/") :]
        gv = rest.split("/", 1)[1] if "/" in rest else rest
        if gv not in by_gv:
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        return _json(kube_schema.openapi_v3_document(by_gv[gv], gv))

    # Reads ------------------------------------------------------------------------------------

    def out(self, info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        """Serve each object in the version it was asked for (conversion strategy None)."""
        if obj.get("apiVersion") == info.api_version:
            return obj
        return {**obj, "apiVersion": info.api_version}

    def _matcher(self, request: web.Request, info: ResourceInfo) -> Any:
        allowed = {"metadata.name", "metadata.namespace"}
        allowed |= set(EXTRA_FIELD_LABELS.get(info.key, ()))
        allowed |= {f.lstrip(".") for f in info.selectable_fields}
        try:
            labels = parse_label_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(request.query.get("fieldSelector"), allowed)
        except SelectorError as error:
            raise bad_request(str(error)) from None
        return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)

    def _wants_table(self, request: web.Request) -> bool:
        accept = request.headers.get("Accept", "")
        return "as=Table" in accept and "g=meta.k8s.io" in accept

    def respond_object(self, request: web.Request, info: ResourceInfo, obj: Any) -> web.Response:
        if self._wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            meta = {"resourceVersion": obj["metadata"]["resourceVersion"]}
            return _json(kube_table.to_table(info, [self.out(info, obj)], meta, include))
        return _json(self.out(info, obj))

    def list(self, request: web.Request, info: ResourceInfo, namespace: str | None) -> web.Response:
        match = self._matcher(request, info)
        items = [o for o in self.store.list(info, namespace) if match(o)]
        list_meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        token = request.query.get("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                start = tuple(state["start"])
            except (ValueError, KeyError, TypeError):
                raise bad_request(f"invalid continue token {token!r}") from None
            if int(state.get("rv", 0)) < self.store.history_floor:
                # The snapshot the token refers to has been compacted (KEP-365).
                raise gone(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
            items = [o for o in items if _key(o) > start]
            list_meta["resourceVersion"] = str(state["rv"])
        limit = int(request.query.get("limit") or 0)
        if limit and len(items) > limit:
            rest = len(items) - limit
            items = items[:limit]
            state = {"rv": int(list_meta["resourceVersion"]), "start": list(_key(items[-1]))}
            list_meta["continue"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
            list_meta["remainingItemCount"] = rest
        if self._wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            objs = [self.out(info, o) for o in items]
            return _json(kube_table.to_table(info, objs, list_meta, include))
        if info.is_custom:
            out_items = [self.out(info, o) for o in items]
        else:
            # Typed lists of built-ins carry no kind/apiVersion on their items.
            out_items = [
                {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items
            ]
        return _json(
            {
                "kind": f"{info.kind}List",
                "apiVersion": info.api_version,
                "metadata": list_meta,
                "items": out_items,
            }
        )

    async def watch(
        self, request: web.Request, info: ResourceInfo, namespace: str | None
    ) -> web.StreamResponse:
        query = request.query
        match = self._matcher(request, info)
        rv_text = query.get("resourceVersion", "")
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks", "") in TRUE
        send_initial = query.get("sendInitialEvents", "") in TRUE
        watcher = Watcher(info, namespace, match, bookmarks)
        initial: list[dict[str, Any]] = []
        expired_from: int | None = None
        if rv_text in ("", "0") or send_initial:
            initial = [o for o in self.store.list(info, namespace) if match(o)]
        else:
            try:
                since = int(rv_text)
            except ValueError:
                raise bad_request(f"invalid resource version: {rv_text}") from None
            if since < self.store.history_floor:
                expired_from = since
            else:
                for event in self.store.log:
                    if event.rv > since:
                        watcher.offer(event)
        list_rv = self.store.rv
        self.store.watchers.add(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            await response.prepare(request)
            if expired_from is not None:
                error = gone(
                    f"too old resource version: {expired_from} ({self.store.history_floor})"
                )
                await self._send(response, "ERROR", error.status())
                return response
            for obj in initial:
                await self._send(response, "ADDED", self.out(info, obj))
            if send_initial and bookmarks:
                marker = {"k8s.io/initial-events-end": "true"}
                await self._send(response, "BOOKMARK", self._bookmark(info, list_rv, marker))
            await self._pump(request, response, watcher, timeout)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.watchers.discard(watcher)
        return response

    async def _pump(
        self, request: web.Request, response: web.StreamResponse, watcher: Watcher, timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                item = await asyncio.wait_for(watcher.queue.get(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return
                interval = self.server.bookmark_interval
                if watcher.bookmarks and time.monotonic() - last_bookmark >= interval:
                    # The queue is empty, so every event up to store.rv has been sent.
                    bookmark = self._bookmark(watcher.info, self.store.rv, None)
                    await self._send(response, "BOOKMARK", bookmark)
                    last_bookmark = time.monotonic()
                continue
            if item is None:
                return
            kind, obj = item
            await self._send(response, kind, self.out(watcher.info, obj))

    def _bookmark(self, info: ResourceInfo, rv: int, annotations: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if annotations:
            meta["annotations"] = annotations
        return {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}

    async def _send(self, response: web.StreamResponse, kind: str, obj: dict[str, Any]) -> None:
        await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    # Writes -----------------------------------------------------------------------------------

    def _write_options(self, request: web.Request) -> tuple[bool, str]:
        dry = request.query.getall("dryRun", [])
        if any(d != "All" for d in dry):
            raise bad_request(f"Invalid dry run value: {dry}, supported values: All")
        validation = request.query.get("fieldValidation", "Warn")
        if validation not in ("Ignore", "Warn", "Strict"):
            raise bad_request(f"fieldValidation must be Ignore, Warn or Strict, not {validation}")
        return bool(dry), validation

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        ctype = request.content_type
        if "protobuf" in ctype:
            raise StatusError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json, application/yaml (not {ctype})",
            )
        try:
            if "yaml" in ctype:
                return yaml.safe_load(raw) or {}
            return json.loads(raw or b"{}")
        except (ValueError, yaml.YAMLError) as error:
            raise bad_request(f"error decoding request body: {error}") from None

    def _check_kind(self, info: ResourceInfo, body: Any) -> None:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        if body.get("kind") not in (None, "", info.kind):
            raise bad_request(
                f"the API version in the data ({body.get('apiVersion')}) does not match the "
                f"expected API version ({info.api_version}) or kind {body.get('kind')} is not "
                f"{info.kind}"
            )

    async def create(self, request: web.Request, info: ResourceInfo, ns: str) -> web.Response:
        dry, validation = self._write_options(request)
        body = await self._body(request)
        self._check_kind(info, body)
        obj, warnings = self.store.create(info, body, ns, dry, validation)
        return _json(self.out(info, obj), 201, warnings)

    async def update(
        self, request: web.Request, info: ResourceInfo, ns: str, route: Route
    ) -> web.Response:
        dry, validation = self._write_options(request)
        body = await self._body(request)
        self._check_kind(info, body)
        obj, warnings = self.store.update(
            info, ns, route.name, body, route.subresource, dry, validation, info.is_custom
        )
        return _json(self.out(info, obj), 200, warnings)

    async def patch(
        self, request: web.Request, info: ResourceInfo, ns: str, route: Route
    ) -> web.Response:
        dry, validation = self._write_options(request)
        ctype = request.content_type
        raw = await request.read()
        if ctype == "application/apply-patch+yaml":
            return self._apply(request, info, ns, route, raw, dry, validation)
        if ctype == "application/strategic-merge-patch+json" and info.is_custom:
            # Custom resources do not support strategic merge patch (no patchMergeKey metadata).
            raise StatusError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {PATCH_TYPES_CR}",
            )
        try:
            patch = json.loads(raw or b"null")
        except ValueError as error:
            raise bad_request(f"error decoding patch: {error}") from None
        current = self.store.get(info, ns, route.name)
        try:
            if ctype == "application/merge-patch+json":
                patched = kube_patch.merge_patch(current, patch)
            elif ctype == "application/json-patch+json":
                patched = kube_patch.json_patch(current, patch)
            elif ctype == "application/strategic-merge-patch+json":
                patched = kube_patch.strategic_merge_patch(current, patch)
            else:
                raise StatusError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {PATCH_TYPES_CR}, application/strategic-merge-patch+json",
                )
        except kube_patch.PatchDecodeError as error:
            raise bad_request(str(error)) from None
        except kube_patch.PatchError as error:
            raise StatusError(422, "Invalid", str(error)) from None
        if not isinstance(patched, dict):
            raise bad_request("the patch must produce an object")
        obj, warnings = self.store.update(
            info, ns, route.name, patched, route.subresource, dry, validation
        )
        return _json(self.out(info, obj), 200, warnings)

    def _apply(
        self,
        request: web.Request,
        info: ResourceInfo,
        ns: str,
        route: Route,
        raw: bytes,
        dry: bool,
        validation: str,
    ) -> web.Response:
        """Server-side apply, simplified: create when missing, else merge (no field ownership)."""
        if not request.query.get("fieldManager"):
            raise StatusError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                "required for apply patch",
            )
        try:
            body = yaml.safe_load(raw) or {}
        except yaml.YAMLError as error:
            raise bad_request(f"error decoding YAML: {error}") from None
        self._check_kind(info, body)
        key = (ns, route.name)
        if key not in self.store.bucket(info):
            body.setdefault("metadata", {})["name"] = route.name
            obj, warnings = self.store.create(info, body, ns, dry, validation)
            if route.subresource == "status" and not dry:
                obj, warnings = self.store.update(info, ns, route.name, body, "status")
            return _json(self.out(info, obj), 201, warnings)
        current = self.store.bucket(info)[key]
        patched = kube_patch.merge_patch(current, body)
        obj, warnings = self.store.update(
            info, ns, route.name, patched, route.subresource, dry, validation
        )
        return _json(self.out(info, obj), 200, warnings)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.can_read_body:
            body = await self._body(request)
            if isinstance(body, dict):
                options.update(body)
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        return options

    async def delete(
        self, request: web.Request, info: ResourceInfo, ns: str, name: str
    ) -> web.Response:
        dry, _ = self._write_options(request)
        options = await self._delete_options(request)
        obj, removed = self.store.delete(
            info, ns, name, options, dry or bool(options.get("dryRun"))
        )
        if removed and not info.is_custom and info.key not in ("/pods", "/namespaces"):
            details = {"name": name, "kind": info.plural, "uid": obj["metadata"]["uid"]}
            if info.group:
                details["group"] = info.group
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
            return _json(status)
        return _json(self.out(info, obj))

    async def delete_collection(
        self, request: web.Request, info: ResourceInfo, namespace: str | None
    ) -> web.Response:
        dry, _ = self._write_options(request)
        options = await self._delete_options(request)
        match = self._matcher(request, info)
        deleted = []
        for obj in [o for o in self.store.list(info, namespace) if match(o)]:
            meta = obj["metadata"]
            final, _ = self.store.delete(
                info, meta.get("namespace", ""), meta["name"], options, dry
            )
            deleted.append(self.out(info, final))
        return _json(
            {
                "kind": f"{info.kind}List",
                "apiVersion": info.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": deleted,
            }
        )


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
