"""Object storage with etcd-like semantics: one global resourceVersion, a bounded event log for
watches, finalizers, ownerReference garbage collection.

References (kubernetes/kubernetes, staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go
and pkg/registry/rest/{create,update,delete}.go):
- resourceVersion is a single counter across all resources (etcd's revision);
- an update that changes nothing is not written: same resourceVersion, no watch event;
- metadata.generation starts at 1 and is bumped on changes outside .metadata (and outside .status
  when a status subresource exists), and when deletionTimestamp is first set;
- DELETE of an object with finalizers only sets deletionTimestamp; it goes when the last finalizer
  is removed; no new finalizers may be added while it is being deleted;
- the garbage collector deletes dependents whose owners are all gone (background propagation).
Objects are never mutated after storage: every write stores a new dict, so watchers may share them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import re
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tests.support import kube_schema
from tests.support.kube_errors import (
    StatusError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
)
from tests.support.kube_resources import Registry, ResourceInfo, resources_from_crd

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
NAMESPACE_KEY = "/namespaces"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# names.SimpleNameGenerator: 5 characters from an alphabet without vowels or confusable digits.
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WatchEvent:
    rv: int
    key: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(eq=False)
class Watcher:
    info: ResourceInfo
    namespace: str | None
    matches: Callable[[dict[str, Any]], bool]
    bookmarks: bool
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(default_factory=asyncio.Queue)

    def offer(self, event: WatchEvent) -> None:
        """Translate a storage event into what this filtered watch sees (cacher semantics:
        an object that stops matching the selector is DELETED for this watcher)."""
        if event.key != self.info.key:
            return
        new_ok = self._sees(event.obj)
        old_ok = event.old is not None and self._sees(event.old)
        if event.type == "DELETED":
            kind = "DELETED" if new_ok else None
        elif new_ok and old_ok:
            kind = "MODIFIED"
        elif new_ok:
            kind = "ADDED"
        elif old_ok:
            kind = "DELETED"
        else:
            kind = None
        if kind:
            self.queue.put_nowait((kind, event.obj))

    def _sees(self, obj: dict[str, Any]) -> bool:
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.matches(obj)


def _strip_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v
        for k, v in obj.get("metadata", {}).items()
        if k not in ("resourceVersion", "managedFields")
    }
    return {**obj, "metadata": meta}


def _spec_part(obj: dict[str, Any], info: ResourceInfo) -> dict[str, Any]:
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if info.has_status else set())
    return {k: v for k, v in obj.items() if k not in skip}


class Store:
    def __init__(self, registry: Registry, history_size: int = 1000) -> None:
        self.registry = registry
        self.history_size = history_size
        self.watchers: set[Watcher] = set()
        self.reset()

    def reset(self) -> None:
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.infos: dict[str, ResourceInfo] = {}
        self.uids: dict[str, tuple[str, str, str]] = {}
        self.rv = 0
        self.log: deque[WatchEvent] = deque(maxlen=self.history_size)
        # Watches may resume from any resourceVersion >= history_floor (older ones are compacted).
        self.history_floor = 0
        self.registry.reset()
        for info in self.registry.by_gvr.values():
            self.infos[info.key] = info
        ns_info = self.infos[NAMESPACE_KEY]
        for name in DEFAULT_NAMESPACES:
            self.create(ns_info, {"metadata": {"name": name}})

    # Reads ------------------------------------------------------------------------------------

    def bucket(self, info: ResourceInfo) -> dict[tuple[str, str], dict[str, Any]]:
        return self.objects.setdefault(info.key, {})

    def list(self, info: ResourceInfo, namespace: str | None) -> list[dict[str, Any]]:
        bucket = self.bucket(info)
        keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
        return [bucket[k] for k in keys]

    def get(self, info: ResourceInfo, namespace: str, name: str) -> dict[str, Any]:
        obj = self.bucket(info).get((namespace, name))
        if obj is None:
            raise not_found(info, name)
        return obj

    # Writes -----------------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _emit(self, info: ResourceInfo, kind: str, obj: dict[str, Any], old: Any) -> None:
        if len(self.log) == self.log.maxlen:
            self.history_floor = self.log[0].rv
        event = WatchEvent(int(obj["metadata"]["resourceVersion"]), info.key, kind, obj, old)
        self.log.append(event)
        for watcher in list(self.watchers):
            watcher.offer(event)

    def expire_history(self) -> None:
        """Compact everything: skip a revision (as writes to other resources would) so every
        resourceVersion a client holds is older than the new floor."""
        self.rv += 1
        self.history_floor = self.rv
        self.log.clear()

    def _check_metadata(self, info: ResourceInfo, obj: dict[str, Any], namespace: str) -> None:
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(_GENERATE_ALPHABET, k=5))
            meta["name"] = f"{meta['generateName']}{suffix}"
        name = meta.get("name") or ""
        if not name:
            cause = {
                "reason": "FieldValueRequired",
                "field": "metadata.name",
                "message": "Required value: name or generateName is required",
            }
            raise invalid(info, "", [cause])
        if len(name) > 253 or not _SUBDOMAIN.match(name):
            cause = {
                "reason": "FieldValueInvalid",
                "field": "metadata.name",
                "message": f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist '
                "of lower case alphanumeric characters, '-' or '.', and must start and end "
                "with an alphanumeric character",
            }
            raise invalid(info, name, [cause])
        if info.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)

    def _schema_pass(
        self, info: ResourceInfo, obj: dict[str, Any], validation: str
    ) -> tuple[dict[str, Any], list[str]]:
        """Defaulting, pruning and validation for custom resources."""
        if not info.is_custom or not info.schema:
            return obj, []
        unknown: list[str] = []
        obj = kube_schema.prune(info.schema, obj, "", unknown)
        name = obj["metadata"].get("name", "")
        if unknown and validation == "Strict":
            causes = [
                {"reason": "FieldValueInvalid", "field": p, "message": f'unknown field "{p}"'}
                for p in unknown
            ]
            raise StatusError(
                400,
                "BadRequest",
                "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown),
                {"name": name, "causes": causes},
            )
        obj = kube_schema.apply_defaults(info.schema, obj)
        causes = kube_schema.validate(info, obj)
        if causes:
            raise invalid(info, name, causes)
        warnings = [f'unknown field "{p}"' for p in unknown] if validation == "Warn" else []
        return obj, warnings

    def create(
        self,
        info: ResourceInfo,
        body: dict[str, Any],
        namespace: str = "",
        dry_run: bool = False,
        validation: str = "Warn",
    ) -> tuple[dict[str, Any], list[str]]:
        obj = copy.deepcopy(body)
        obj["apiVersion"] = info.api_version
        obj["kind"] = info.kind
        self._check_metadata(info, obj, namespace)
        meta = obj["metadata"]
        if info.namespaced and ("", namespace) not in self.bucket(self.infos[NAMESPACE_KEY]):
            # The NamespaceLifecycle admission plugin refuses objects in missing namespaces.
            raise not_found(self.infos[NAMESPACE_KEY], namespace)
        if (meta.get("namespace", ""), meta["name"]) in self.bucket(info):
            raise already_exists(info, meta["name"])
        for volatile in ("resourceVersion", "uid", "deletionTimestamp", "generation"):
            meta.pop(volatile, None)
        if info.has_status and not info.status_on_create:
            obj.pop("status", None)
            if info.key == "/pods":
                obj["status"] = {"phase": "Pending"}
        if info.key == NAMESPACE_KEY:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
        obj, warnings = self._schema_pass(info, obj, validation)
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if info.has_generation:
            meta["generation"] = 1
        if info.key == CRD_KEY:
            self._accept_crd(obj)
        if dry_run:
            return obj, warnings
        meta["resourceVersion"] = self._next_rv()
        self._put(info, obj)
        self._emit(info, "ADDED", obj, None)
        return obj, warnings

    def _put(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.infos.setdefault(info.key, info)
        self.bucket(info)[(meta.get("namespace", ""), meta["name"])] = obj
        self.uids[meta["uid"]] = (info.key, meta.get("namespace", ""), meta["name"])

    def update(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: dict[str, Any],
        subresource: str = "",
        dry_run: bool = False,
        validation: str = "Warn",
        require_rv: bool = False,
    ) -> tuple[dict[str, Any], list[str]]:
        old = self.get(info, namespace, name)
        new = copy.deepcopy(body)
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if meta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})"
            )
        sent_rv = meta.get("resourceVersion")
        if not sent_rv and require_rv:
            # Custom resources do not allow unconditional updates (AllowUnconditionalUpdate).
            cause = {
                "reason": "FieldValueInvalid",
                "field": "metadata.resourceVersion",
                "message": "Invalid value: 0x0: must be specified for an update",
            }
            raise invalid(info, name, [cause])
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(info, name)
        old_meta = old["metadata"]
        if subresource == "status":
            # Status writes change .status only (CR statusStrategy.PrepareForUpdate).
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        elif info.has_status:
            # The main endpoint ignores .status when a status subresource exists.
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        new["apiVersion"] = info.api_version
        new["kind"] = info.kind
        for immutable in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if immutable in old_meta:
                meta[immutable] = old_meta[immutable]
            else:
                meta.pop(immutable, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                cause = {
                    "reason": "FieldValueForbidden",
                    "field": "metadata.finalizers",
                    "message": "Forbidden: no new finalizers can be added if the object is being "
                    "deleted, found new finalizers " + str(sorted(added)),
                }
                raise invalid(info, name, [cause])
        new, warnings = self._schema_pass(info, new, validation)
        meta = new["metadata"]
        if _strip_volatile(new) == _strip_volatile(old):
            return old, warnings
        if info.has_generation and _spec_part(new, info) != _spec_part(old, info):
            meta["generation"] = old_meta.get("generation", 1) + 1
        if info.key == CRD_KEY:
            self._accept_crd(new)
        if dry_run:
            return new, warnings
        meta["resourceVersion"] = self._next_rv()
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(info, new)
            return new, warnings
        self._put(info, new)
        self._emit(info, "MODIFIED", new, old)
        return new, warnings

    def delete(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Returns (object, removed_now)."""
        options = options or {}
        obj = self.get(info, namespace, name)
        meta = obj["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            why = f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
            raise conflict(info, name, why + meta["uid"])
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            why = (
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}"
            )
            raise conflict(info, name, why)
        if dry_run:
            return obj, not meta.get("finalizers")
        if options.get("propagationPolicy") == "Orphan":
            self._orphan(meta["uid"])
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return obj, False
            new = copy.deepcopy(obj)
            new_meta = new["metadata"]
            new_meta["deletionTimestamp"] = now()
            new_meta["deletionGracePeriodSeconds"] = 0
            if "generation" in new_meta:
                new_meta["generation"] += 1
            new_meta["resourceVersion"] = self._next_rv()
            self._put(info, new)
            self._emit(info, "MODIFIED", new, obj)
            return new, False
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = self._next_rv()
        self._remove(info, final)
        return final, True

    def _remove(self, info: ResourceInfo, final: dict[str, Any]) -> None:
        meta = final["metadata"]
        self.bucket(info).pop((meta.get("namespace", ""), meta["name"]), None)
        self.uids.pop(meta["uid"], None)
        self._emit(info, "DELETED", final, final)
        if info.key == NAMESPACE_KEY:
            for key, bucket in list(self.objects.items()):
                for ns, obj_name in [k for k in bucket if k[0] == meta["name"]]:
                    self._delete_quietly(self.infos[key], ns, obj_name)
        if info.key == CRD_KEY:
            self._forget_crd(final)
        self.collect_garbage(meta["uid"])

    def _delete_quietly(self, info: ResourceInfo, namespace: str, name: str) -> None:
        with contextlib.suppress(StatusError):
            self.delete(info, namespace, name)

    def collect_garbage(self, owner_uid: str) -> None:
        for key, bucket in list(self.objects.items()):
            info = self.infos[key]
            for obj in list(bucket.values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == owner_uid for r in refs):
                    continue
                remaining = [r for r in refs if r.get("uid") != owner_uid]
                meta = obj["metadata"]
                if any(r.get("uid") in self.uids for r in remaining):
                    # Other owners live on: drop the dangling reference only.
                    body = copy.deepcopy(obj)
                    body["metadata"]["ownerReferences"] = remaining
                    self.update(info, meta.get("namespace", ""), meta["name"], body)
                else:
                    self._delete_quietly(info, meta.get("namespace", ""), meta["name"])

    def _orphan(self, owner_uid: str) -> None:
        for key, bucket in list(self.objects.items()):
            for obj in list(bucket.values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == owner_uid for r in refs):
                    body = copy.deepcopy(obj)
                    body["metadata"]["ownerReferences"] = [
                        r for r in refs if r.get("uid") != owner_uid
                    ]
                    meta = obj["metadata"]
                    self.update(self.infos[key], meta.get("namespace", ""), meta["name"], body)

    # CRDs ---------------------------------------------------------------------------------------

    def _accept_crd(self, crd: dict[str, Any]) -> None:
        """What the apiextensions naming and establishing controllers do, synchronously."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        expected = f"{names.get('plural')}.{spec.get('group')}"
        if crd["metadata"]["name"] != expected:
            raise invalid(
                self.infos[CRD_KEY],
                crd["metadata"]["name"],
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "metadata.name",
                        "message": f'Invalid value: "{crd["metadata"]["name"]}": must be '
                        f'spec.names.plural+"."+spec.group',
                    }
                ],
            )
        stamp = now()
        accepted = dict(names)
        accepted.setdefault("singular", names.get("kind", "").lower())
        accepted.setdefault("listKind", f"{names.get('kind')}List")
        crd["status"] = {
            "acceptedNames": accepted,
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": stamp,
                },
            ],
            "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
        }
        self.registry.remove_group_plural(spec["group"], names["plural"])
        for info in resources_from_crd(crd):
            self.registry.add(info)
            if info.version == info.storage_version or info.key not in self.infos:
                self.infos[info.key] = info

    def _forget_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        key = f"{spec['group']}/{spec['names']['plural']}"
        info = self.infos.get(key)
        if info is not None:
            for ns, name in list(self.bucket(info)):
                obj = self.bucket(info)[(ns, name)]
                final = copy.deepcopy(obj)
                final["metadata"]["resourceVersion"] = self._next_rv()
                self._remove(info, final)
        self.registry.remove_group_plural(spec["group"], spec["names"]["plural"])
        self.objects.pop(key, None)
        self.infos.pop(key, None)
