"""Kubernetes mode's share of the work (docs/agent.md, "Acting on models"):

- it watches OllamaTask and OllamaModelSet (few objects, cluster-wide: the agent decides itself
  which select its node) and hands them to the Worker once both lists arrived; OllamaBenchmarks
  too (handed over once their list arrived: a cluster without that CRD just runs none);
- it writes the node's `status.activity` with a merge patch of the status subresource that names
  nothing else, so the report's own writes (and the digest that skips them) are untouched;
- it copies the Node's labels, filtered by prefixes, onto the OllamaNode's metadata.labels, and
  again when they change (checked with the reporter's cached read, every api_check_interval).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from obt.agent.health import Health
from obt.agent.worker import Worker
from obt.core.kube import ApiError, KubeClient
from obt.core.models import GROUP, PLURAL, VERSION
from obt.core.models.actions import OllamaModelSet, OllamaTask
from obt.core.models.activity import Activity
from obt.core.models.benchmark import OllamaBenchmark
from obt.core.names import SOURCE_LABEL

log = logging.getLogger(__name__)

TASKS, SETS, BENCHMARKS = "ollamatasks", "ollamamodelsets", "ollamabenchmarks"
Watched = type[OllamaTask] | type[OllamaModelSet] | type[OllamaBenchmark]


def copied_labels(node_labels: Mapping[str, str], prefixes: Sequence[str]) -> dict[str, str]:
    """The Node labels that go onto the OllamaNode: keys that start with a prefix ending in '/'
    ('nvidia.com/' takes 'nvidia.com/gpu.product'), or equal one given without ('kubernetes.io/os')."""
    out = {}
    for key, value in node_labels.items():
        for prefix in prefixes:
            if (prefix.endswith("/") and key.startswith(prefix)) or key == prefix:
                out[key] = value
                break
    return out


def label_patch(
    current: Mapping[str, str], wanted: Mapping[str, str], prefixes: Sequence[str]
) -> dict[str, str | None]:
    """Merge-patch of metadata.labels that makes the copied part equal `wanted`: changed and new
    keys, and null for a copied key the Node lost. Labels outside the prefixes (the source label,
    what people set) are left alone."""
    patch: dict[str, str | None] = {k: v for k, v in wanted.items() if current.get(k) != v}
    for key in copied_labels(current, prefixes):
        if key not in wanted and key != SOURCE_LABEL:
            patch[key] = None
    return patch


class KubeWork:
    def __init__(
        self,
        kube: KubeClient,
        node_name: str,
        worker: Worker,
        health: Health,
        label_prefixes: Sequence[str],
    ) -> None:
        self.kube = kube
        self.node_name = node_name
        self.worker = worker
        self.health = health
        self.label_prefixes = list(label_prefixes)
        self.labels: dict[str, str] = {}  # the OllamaNode's labels, as last read or written
        self.tasks: dict[str, OllamaTask] | None = None
        self.sets: dict[str, OllamaModelSet] | None = None
        self.benchmarks: dict[str, OllamaBenchmark] | None = None
        self._watches: list[asyncio.Task[None]] = []

    # Start and stop ---------------------------------------------------------------------------

    def start(self, obj: Mapping[str, Any]) -> None:
        """The OllamaNode was read or created: take its labels and stored activity, watch."""
        self.took(obj)
        stored = (obj.get("status") or {}).get("activity") or []
        try:
            self.worker.restore([Activity.model_validate(a) for a in stored])
        except ValueError as exc:
            log.warning("kubernetes: stored activity unreadable, starting afresh: %s", exc)
        if not self._watches:
            loop = asyncio.get_running_loop()
            self._watches = [
                loop.create_task(self._watch(TASKS, OllamaTask)),
                loop.create_task(self._watch(SETS, OllamaModelSet)),
                loop.create_task(self._watch(BENCHMARKS, OllamaBenchmark)),
            ]

    async def close(self) -> None:
        for task in self._watches:
            task.cancel()
        await asyncio.gather(*self._watches, return_exceptions=True)
        self._watches = []
        await self.worker.close()

    def took(self, obj: Mapping[str, Any]) -> None:
        self.labels = dict((obj.get("metadata") or {}).get("labels") or {})
        self._hand_over()

    # Watches ----------------------------------------------------------------------------------

    async def _watch(self, plural: str, model: Watched) -> None:
        while True:
            try:
                await self._follow(plural, model)
            except Exception:  # a bug must not end the watch for the pod's life
                log.exception("kubernetes: watch of %s failed; watching again in 5 s", plural)
                await asyncio.sleep(5)

    async def _follow(self, plural: str, model: Watched) -> None:
        known: dict[str, Any] = {}
        failing: list[str] = []

        def failed(error: ApiError) -> None:
            # Said once per streak (a missing CRD or RBAC rule would say it every 30 s).
            if str(error) not in failing:
                failing[:] = [str(error)]
                log.warning("kubernetes: cannot watch %s (retrying): %s", plural, error)

        async for kind, obj in self.kube.watch_custom(GROUP, VERSION, plural, on_error=failed):
            failing.clear()
            if kind == "RELISTED":
                known = {}
                for item in obj.get("items") or []:
                    self._keep(known, model, item)
            elif kind == "DELETED":
                known.pop(str((obj.get("metadata") or {}).get("name")), None)
            else:
                self._keep(known, model, obj)
            if plural == TASKS:
                self.tasks = known
            elif plural == SETS:
                self.sets = known
            else:
                self.benchmarks = known
            self._hand_over()

    @staticmethod
    def _keep(known: dict[str, Any], model: type[Any], obj: dict[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name"))
        try:
            known[name] = model.model_validate(obj)
        except ValueError as exc:
            # The CRD's schema admits what the pydantic model refuses only across versions.
            log.warning("kubernetes: ignoring %s %s: %s", obj.get("kind"), name, exc)
            known.pop(name, None)

    def _hand_over(self) -> None:
        if self.tasks is None or self.sets is None:
            return  # both lists first: an unknown set is not a deleted one
        if self.benchmarks is not None:  # (a cluster without the benchmark CRD: none)
            self.worker.set_benchmarks(list(self.benchmarks.values()))
        self.worker.set_work(self.labels, list(self.tasks.values()), list(self.sets.values()))
        self.worker.wakeup.set()

    # Writes -----------------------------------------------------------------------------------

    async def write_activity(self, activity: list[Activity]) -> None:
        """The Worker's sink: one merge patch of status.activity, nothing else."""
        body = {"status": {"activity": [a.to_wire() for a in activity]}}
        try:
            await self.kube.merge_patch_custom_status(GROUP, VERSION, PLURAL, self.node_name, body)
        except ApiError as exc:
            self.health.api_failed(str(exc))
            raise
        self.health.writes += 1

    async def sync_labels(self, obj: Mapping[str, Any]) -> None:
        """Copy the Node's labels (a cached read) when they differ from the OllamaNode's."""
        self.labels = dict((obj.get("metadata") or {}).get("labels") or {})
        node = await self.kube.request(
            "GET", f"/api/v1/nodes/{self.node_name}", params={"resourceVersion": "0"}
        )
        await self.apply_labels(node)

    async def apply_labels(self, node: Mapping[str, Any]) -> None:
        wanted = copied_labels(
            (node.get("metadata") or {}).get("labels") or {}, self.label_prefixes
        )
        patch = label_patch(self.labels, wanted, self.label_prefixes)
        if not patch:
            return
        updated = await self.kube.merge_patch_custom(
            GROUP, VERSION, PLURAL, self.node_name, {"metadata": {"labels": patch}}
        )
        self.health.writes += 1
        log.info("kubernetes: copied Node labels onto OllamaNode %s: %s", self.node_name, patch)
        self.took(updated)
