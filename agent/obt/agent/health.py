"""Liveness and readiness of the agent, as the kubelet's probes see them.

Ready means: a detection cycle completed within `ready_cycles` intervals AND fewer than
`failure_threshold` requests to the API server (or OBT API) failed in a row. Ollama being down
does not make the agent unready: that is a fact in the report, not a fault of the agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Health:
    interval: float
    clock: Callable[[], float]
    ready_cycles: int = 3
    failure_threshold: int = 2
    last_cycle_at: float | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    writes: int = 0
    failures: int = 0
    started_at: float = field(default=0.0)

    def cycle_done(self) -> None:
        self.last_cycle_at = self.clock()

    def api_ok(self) -> None:
        self.consecutive_failures = 0
        self.last_error = None

    def api_failed(self, error: str) -> None:
        self.consecutive_failures += 1
        self.failures += 1
        self.last_error = error

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason for people)."""
        now = self.clock()
        if self.last_cycle_at is None:
            return False, "no detection cycle has completed yet"
        age = now - self.last_cycle_at
        if age > self.ready_cycles * self.interval:
            return False, f"last detection cycle completed {age:.0f}s ago"
        if self.consecutive_failures >= self.failure_threshold:
            return (
                False,
                f"{self.consecutive_failures} API requests failed in a row: {self.last_error}",
            )
        return True, "ok"
