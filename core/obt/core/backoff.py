"""Exponential backoff with jitter, for every retry loop (agent reports, the API's mirror).

The delay before retry n is drawn from [ceiling/2, ceiling], ceiling = min(cap, base * 2**(n-1)):
it grows quickly while something stays away, never exceeds the cap, and the jitter keeps many
clients that failed together from retrying in lockstep when the server comes back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempt: int = 0

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before the next try."""
        self.attempt += 1
        ceiling: float = min(self.cap, self.base * 2.0 ** (self.attempt - 1))
        return ceiling * (0.5 + self.rng.random() / 2)

    def reset(self) -> None:
        """A success: the next failure starts from `base` again."""
        self.attempt = 0
