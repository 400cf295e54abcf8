"""Throttles against online password guessing and sign-up floods.

Failed sign-ins are counted per client address, which gets a hard stop, and per
account, which only gets slower: a hard stop per account would let anyone lock
out anyone (the admin included) by typing wrong passwords for them. All counts
live in memory: a restart clears them, which is acceptable for throttles whose
job is to make guessing and flooding slow, not impossible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# The per-account slowdown: no delay for the first few failures (people mistype), then doubling, capped so
# that the right password always gets in within a few seconds however many guesses were made.
FREE_FAILURES = 3
FIRST_DELAY = 0.5
MAX_DELAY = 4.0

# Keys are dropped once this many have been recorded since the last sweep and their events have expired,
# so that guesses at made-up usernames do not grow the tables for ever.
_SWEEP_EVERY = 1000
_ACCOUNT_EVENTS_KEPT = 64


@dataclass
class SlidingWindowLimiter:
    """At most `max_events` events per key within the last `window_seconds`."""

    max_events: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    _events: dict[str, list[float]] = field(default_factory=dict)
    _since_sweep: int = 0

    def retry_after(self, *keys: str) -> float:
        """Seconds until every one of `keys` is under its limit again; 0 when none is over it."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            recent = self._recent(key, now)
            if len(recent) >= self.max_events:
                wait = max(wait, recent[-self.max_events] + self.window_seconds - now)
        return wait

    def count(self, key: str) -> int:
        """Events for `key` within the window."""
        return len(self._recent(key, self.clock()))

    def record(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            # Older events never matter: retry_after looks at the last `max_events` only.
            self._events[key] = [*self._recent(key, now), now][-self.max_events :]
        self._since_sweep += len(keys)
        if self._since_sweep >= _SWEEP_EVERY:
            self._sweep(now)

    def forget(self, *keys: str) -> None:
        for key in keys:
            self._events.pop(key, None)

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in self._events.get(key, []) if now - t < self.window_seconds]

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        for key in [key for key in self._events if not self._recent(key, now)]:
            del self._events[key]


class FailedLoginLimiter(SlidingWindowLimiter):
    """The hard stop: `max_failures` failed sign-ins from one address within `lockout_seconds`."""

    def __init__(self, max_failures: int, lockout_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_failures, lockout_seconds, clock)

    @property
    def max_failures(self) -> int:
        return self.max_events

    @property
    def lockout_seconds(self) -> float:
        return self.window_seconds

    def record_failure(self, *keys: str) -> None:
        self.record(*keys)

    def record_success(self, *keys: str) -> None:
        self.forget(*keys)


def slowdown_delay(
    failures: int, free: int = FREE_FAILURES, first: float = FIRST_DELAY, cap: float = MAX_DELAY
) -> float:
    """Seconds to wait before answering a sign-in for an account with `failures` recent failures.

    0 for the first `free`, then `first`, doubling with each further failure, never more than `cap`.
    """
    if failures < free:
        return 0.0
    return min(cap, first * 2 ** min(failures - free, 32))


@dataclass
class SignInThrottle:
    """Hard stop per address, slowdown per account: what every sign-in method of a hub shares.

    One instance per hub, so that a guesser's failures count against its address whichever
    method (built-in accounts, the directory, single sign-on) they went to.
    """

    max_failures: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    addresses: FailedLoginLimiter = field(init=False)
    accounts: SlidingWindowLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.addresses = FailedLoginLimiter(self.max_failures, self.window_seconds, self.clock)
        # The accounts' counts only feed the slowdown, which reaches its cap long before this many.
        self.accounts = SlidingWindowLimiter(_ACCOUNT_EVENTS_KEPT, self.window_seconds, self.clock)

    def retry_after(self, address: str) -> float:
        """Seconds before `address` may try again; 0 when it may now."""
        return self.addresses.retry_after(_address_key(address))

    def delay(self, account: str | None) -> float:
        """Seconds to wait before checking a password for `account` (None: not a valid name, no wait)."""
        if account is None:
            return 0.0
        return slowdown_delay(self.accounts.count(_account_key(account)))

    def failed(self, address: str, account: str | None = None) -> None:
        self.addresses.record_failure(_address_key(address))
        if account is not None:
            self.accounts.record(_account_key(account))

    def succeeded(self, account: str) -> None:
        """The account's owner got in: its slowdown ends (the address's count stays, it may be a guesser's)."""
        self.accounts.forget(_account_key(account))


def retry_message(wait: float, what: str = "failed sign-ins") -> str:
    """`Too many failed sign-ins from your address. Try again in 5 minutes.`"""
    minutes = max(1, math.ceil(wait / 60))
    return f"Too many {what} from your address. Try again in {minutes} minute{'s' if minutes > 1 else ''}."


def _address_key(address: str) -> str:
    return f"ip:{address}"


def _account_key(account: str) -> str:
    return f"user:{account}"
