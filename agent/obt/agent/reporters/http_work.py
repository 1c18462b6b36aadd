"""HTTP (standalone) mode's share of the work (docs/agent.md, "Acting on models").

The heartbeat answer carries `workGeneration` (an int that changes whenever a task or model set
changes; absent: the API has no work support, and the agent does nothing). When it differs from
the generation last fetched, and every `poll_interval` while a step runs or waits, the agent
GETs `/api/v1/agents/{name}/work` -> `{"generation", "labels", "tasks", "modelSets",
"benchmarks"}` and plans with those itself (an answer without "benchmarks", from an older API,
runs none); its activity goes back with `PUT /api/v1/agents/{name}/activity`, and is kept in
`<data dir>/activity.json` too, so a restarted agent knows what it finished (and resumes what
it was pulling) without asking the API.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from obt.agent.worker import Worker
from obt.core.models.actions import OllamaModelSet, OllamaTask
from obt.core.models.activity import Activity
from obt.core.models.benchmark import OllamaBenchmark

log = logging.getLogger(__name__)
Kind = TypeVar("Kind", OllamaTask, OllamaModelSet, OllamaBenchmark)
ACTIVITY_FILE = "activity.json"


def parse_work(
    data: dict[str, Any],
) -> tuple[dict[str, str], list[OllamaTask], list[OllamaModelSet]]:
    """The /work answer as models; an entry that does not parse is skipped with a warning."""
    labels = {str(k): str(v) for k, v in (data.get("labels") or {}).items()}
    tasks = [t for t in (_parse(OllamaTask, i) for i in data.get("tasks") or []) if t]
    sets = [s for s in (_parse(OllamaModelSet, i) for i in data.get("modelSets") or []) if s]
    return labels, tasks, sets


def parse_benchmarks(data: dict[str, Any]) -> list[OllamaBenchmark] | None:
    """The /work answer's benchmarks; None when the API sent none at all (it has no benchmark
    support: nothing is planned, nothing cancelled)."""
    if "benchmarks" not in data:
        return None
    items = data.get("benchmarks") or []
    return [b for b in (_parse(OllamaBenchmark, i) for i in items) if b]


def _parse(model: type[Kind], item: Any) -> Kind | None:
    try:
        return model.model_validate(item)
    except ValueError as exc:
        name = (item.get("metadata") or {}).get("name") if isinstance(item, dict) else None
        log.warning("http: ignoring %s %s from /work: %s", model.__name__, name, exc)
        return None


class HttpWork:
    def __init__(
        self,
        worker: Worker,
        clock: Callable[[], float],
        poll_interval: float = 60.0,
        state_file: Path | None = None,
    ) -> None:
        self.worker = worker
        self.state_file = state_file
        if state_file is not None:
            worker.restore(load_activity(state_file))
        self.clock = clock
        self.poll_interval = poll_interval
        self.generation: int | None = None  # of the last /work answer taken
        self.next_fetch = float("inf")
        self.last_fetch = -float("inf")
        self.supported = True

    def heard(self, answer: dict[str, Any]) -> None:
        """A heartbeat answer: fetch the work when its generation moved."""
        generation = answer.get("workGeneration")
        if not self.supported or isinstance(generation, bool) or not isinstance(generation, int):
            return
        if generation != self.generation:
            self.next_fetch = min(self.next_fetch, self.clock())

    def fetch_due(self) -> float:
        if not self.supported:
            return float("inf")
        if self.worker.in_progress and self.generation is not None:
            return min(self.next_fetch, self.last_fetch + self.poll_interval)
        return self.next_fetch

    def take(self, data: dict[str, Any]) -> None:
        labels, tasks, sets = parse_work(data)
        generation = data.get("generation")
        self.generation = generation if isinstance(generation, int) else -1
        self.last_fetch = self.clock()
        self.next_fetch = float("inf")
        self.worker.set_work(labels, tasks, sets)
        self.worker.set_benchmarks(parse_benchmarks(data))
        log.debug(
            "http: work generation %s: %d tasks, %d model sets",
            self.generation,
            len(tasks),
            len(sets),
        )

    def unsupported(self, why: str) -> None:
        self.supported = False
        log.warning("http: the API has no work endpoint (%s); not acting on models", why)

    def save(self, activity: list[Activity]) -> None:
        """Keep what was sent, for a restart (a failure to write it is only logged)."""
        if self.state_file is None:
            return
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps([a.to_wire() for a in activity]))
            os.replace(tmp, self.state_file)
        except OSError as exc:
            log.warning("http: cannot keep the activity in %s: %s", self.state_file, exc)


def load_activity(path: Path) -> list[Activity]:
    """The activity kept by a previous run; empty when there is none or it is unreadable."""
    try:
        data = json.loads(path.read_text())
        return [Activity.model_validate(a) for a in data]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError) as exc:
        log.warning("http: ignoring the kept activity in %s: %s", path, exc)
        return []
