"""Following an OllamaTask until it finishes (`obt models pull --wait`): poll
`GET /api/v1/tasks/{name}` about once a second and show each node's progress, as rich progress
bars on a terminal or as plain lines (one per change worth reading) when the output is a pipe or
a file. The rows come from the task's status (`status.nodes`, computed by
obt.core.actions.task_status from the nodes' activity), so they are what `obt task get` shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol
from urllib.parse import quote

import click

from obt.cli.client import EXIT_ERROR, CallFailed, NotFound, call
from obt.core.models.actions import OllamaTask

FINISHED_TASK_PHASES = frozenset({"Succeeded", "Failed", "Cancelled"})
POLL_SECONDS = 1.0  # a person watching wants about one update a second; the API caches nothing
EXIT_TASK_FAILED = 5
EXIT_WAIT_TIMEOUT = 6
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


@dataclass(frozen=True)
class NodeRow:
    """One node of a task as the display shows it."""

    node: str
    phase: str
    model: str | None = None
    reason: str | None = None
    message: str = ""
    completed: int | None = None
    total: int | None = None

    def failure(self) -> str:
        """'node b: OllamaError: pull model manifest: file does not exist (llama3.2:latest)'."""
        what = ": ".join(p for p in (self.reason, self.message) if p) or self.phase
        model = f" ({self.model})" if self.model else ""
        return f"node {self.node}: {what}{model}"


def node_rows(task: OllamaTask) -> list[NodeRow]:
    """Every node the status names, then the named nodes it does not name yet (Pending), in the
    status's order (failures first) and then by name."""
    rows = [
        NodeRow(
            node=o.node,
            phase=o.phase,
            model=o.model,
            reason=o.reason,
            message=o.message,
            completed=o.completed_bytes,
            total=o.total_bytes,
        )
        for o in task.status.nodes
    ]
    seen = {r.node for r in rows}
    rows += [
        NodeRow(node=n, phase="Pending") for n in sorted(task.spec.nodes or []) if n not in seen
    ]
    return rows


def human_bytes(num: int) -> str:
    value = float(num)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}GiB"  # pragma: no cover - the loop returns at GiB


def progress_text(row: NodeRow) -> str:
    """'1.2GiB/2.0GiB (60%)' for a pull with sizes, else ''."""
    if row.total:
        done = min(row.completed or 0, row.total)
        return f"{human_bytes(done)}/{human_bytes(row.total)} ({100 * done // row.total}%)"
    return ""


def summary(task: OllamaTask) -> str:
    s = task.status
    return (
        f"task {task.metadata.name} {s.phase}: {s.succeeded} succeeded, {s.failed} failed, "
        f"{s.running} running, {s.pending} pending of {s.selected} node(s)"
    )


class Display(Protocol):
    def update(self, task: OllamaTask) -> None: ...
    def close(self) -> None: ...


class PlainDisplay:
    """A line whenever a node changes phase or model, or a pull passes another tenth."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.last: dict[str, tuple[object, ...]] = {}
        self.last_phase: str | None = None

    def update(self, task: OllamaTask) -> None:
        for row in node_rows(task):
            tenth = (10 * (row.completed or 0) // row.total) if row.total else None
            key = (row.phase, row.model, tenth)
            if self.last.get(row.node) == key:
                continue
            self.last[row.node] = key
            parts = [f"node {row.node}: {row.phase}"]
            if row.model:
                parts.append(row.model)
            if row.phase in ("Failed", "Skipped", "Cancelled") and (row.reason or row.message):
                parts.append(": ".join(p for p in (row.reason, row.message) if p))
            elif text := progress_text(row):
                parts.append(text)
            click.echo(" ".join(parts), file=self.stream)
        phase = task.status.phase
        if phase != self.last_phase and phase not in FINISHED_TASK_PHASES:
            # The finished one is said once, with the failures, by whoever waited.
            self.last_phase = phase
            click.echo(summary(task), file=self.stream)

    def close(self) -> None:
        self.stream.flush()


class RichDisplay:
    """A rich progress bar per node: bytes for pulls, the phase for everything else."""

    def __init__(self, stream: IO[str], action: str):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.action = action
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[size]}"),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=Console(file=stream),
        )
        self.header = self.progress.add_task("task", total=None, state="Pending", size="")
        self.bars: dict[str, Any] = {}
        self.progress.start()

    def update(self, task: OllamaTask) -> None:
        s = task.status
        self.progress.update(
            self.header,
            description=f"task {task.metadata.name}",
            total=max(s.selected, 1),
            completed=s.succeeded + s.failed,
            state=f"{s.phase}: {s.succeeded}/{s.selected} done, {s.failed} failed",
        )
        for row in node_rows(task):
            # Short: the reasons and Ollama's messages are printed in full at the end.
            state = row.phase + (f" {row.model}" if row.model else "")
            if row.phase == "Failed":
                state = f"[red]Failed: {row.reason or row.message}"
            elif row.phase == "Skipped":
                state = f"[yellow]Skipped: {row.reason or row.message}"
            finished = row.phase in ("Succeeded", "Failed", "Skipped", "Cancelled")
            if self.action == "pull" and row.total:
                total, completed = float(row.total), float(min(row.completed or 0, row.total))
            else:
                total, completed = 1.0, 1.0 if finished else 0.0
            size = progress_text(row).split(" ")[0]  # '1.0GiB/2.0GiB', or ''
            if row.node not in self.bars:
                self.bars[row.node] = self.progress.add_task(
                    row.node, total=total, state=state, size=size
                )
            self.progress.update(
                self.bars[row.node], total=total, completed=completed, state=state, size=size
            )

    def close(self) -> None:
        self.progress.stop()


def make_display(stream: IO[str], action: str) -> Display:
    """Bars on a terminal (when rich is installed), plain lines otherwise."""
    if stream.isatty():
        try:
            return RichDisplay(stream, action)
        except ImportError:
            pass
    return PlainDisplay(stream)


def follow(
    server: str,
    name: str,
    token: str | None,
    display: Display,
    *,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[OllamaTask, dict[str, Any]]:
    """Poll the task until it finishes; the finished task (and the API's object). Raises WaitTimeout after `timeout`
    seconds, KeyboardInterrupt when the person presses Ctrl-C (the task keeps running)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    path = f"/api/v1/tasks/{quote(name, safe='')}"
    try:
        while True:
            try:
                raw = call(server, "GET", path, token=token)
                task = OllamaTask.model_validate(raw)
            except NotFound as error:
                raise CallFailed(
                    f"task {name} was deleted while waiting for it (someone ran `obt task delete "
                    f"{name}`, or its ttlSecondsAfterFinished passed)",
                    EXIT_ERROR,
                ) from error
            display.update(task)
            if task.status.phase in FINISHED_TASK_PHASES:
                return task, raw
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(task)
            sleep(POLL_SECONDS)
    finally:
        display.close()


class WaitTimeout(Exception):
    def __init__(self, task: OllamaTask):
        super().__init__(task.metadata.name)
        self.task = task
