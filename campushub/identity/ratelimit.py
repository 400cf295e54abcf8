"""Lockout after repeated failed sign-ins.

Counted per username and per client address, in memory: a restart clears it,
which is acceptable for a throttle whose job is to make online guessing slow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class FailedLoginLimiter:
    max_failures: int
    lockout_seconds: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def retry_after(self, *keys: str) -> float:
        """Seconds until any of `keys` may try again; 0 when none is locked out."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            recent = self._recent(key, now)
            if len(recent) >= self.max_failures:
                wait = max(wait, recent[-self.max_failures] + self.lockout_seconds - now)
        return wait

    def record_failure(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            self._failures[key] = [*self._recent(key, now), now]

    def record_success(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in self._failures.get(key, []) if now - t < self.lockout_seconds]
