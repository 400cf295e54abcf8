"""FailedLoginLimiter with a fake clock: lockouts start, last `lockout_seconds`, and end."""

from __future__ import annotations

import pytest

from campushub.identity.ratelimit import FailedLoginLimiter


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> FailedLoginLimiter:
    return FailedLoginLimiter(max_failures=3, lockout_seconds=300, clock=clock)


def fail(limiter: FailedLoginLimiter, times: int, *keys: str) -> None:
    for _ in range(times):
        limiter.record_failure(*keys)


def test_no_failures_no_wait(limiter: FailedLoginLimiter) -> None:
    assert limiter.retry_after("user:alice") == 0


def test_fewer_than_max_failures_no_wait(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 2, "user:alice")
    assert limiter.retry_after("user:alice") == 0


def test_lockout_after_max_failures(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 3, "user:alice")
    assert limiter.retry_after("user:alice") == pytest.approx(300)


def test_retry_after_counts_down_then_reaches_zero(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    fail(limiter, 3, "user:alice")
    clock.advance(100)
    assert limiter.retry_after("user:alice") == pytest.approx(200)
    clock.advance(199)
    assert 0 < limiter.retry_after("user:alice") <= 1
    clock.advance(1)
    assert limiter.retry_after("user:alice") == 0


def test_lockout_ends_when_the_oldest_counted_failure_expires(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    limiter.record_failure("user:alice")
    clock.advance(50)
    fail(limiter, 2, "user:alice")
    assert limiter.retry_after("user:alice") == pytest.approx(250)


def test_old_failures_expire(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    fail(limiter, 2, "user:alice")
    clock.advance(300)
    limiter.record_failure("user:alice")
    assert limiter.retry_after("user:alice") == 0


def test_one_failure_after_lockout_does_not_relock(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    fail(limiter, 3, "user:alice")
    clock.advance(301)
    limiter.record_failure("user:alice")
    assert limiter.retry_after("user:alice") == 0


def test_success_clears_the_key(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 3, "user:alice")
    limiter.record_success("user:alice")
    assert limiter.retry_after("user:alice") == 0
    fail(limiter, 2, "user:alice")
    assert limiter.retry_after("user:alice") == 0


def test_success_clears_only_the_given_key(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 3, "user:alice", "ip:192.0.2.1")
    limiter.record_success("user:alice")
    assert limiter.retry_after("user:alice") == 0
    assert limiter.retry_after("ip:192.0.2.1") > 0


def test_success_for_unknown_key_is_harmless(limiter: FailedLoginLimiter) -> None:
    limiter.record_success("user:nobody")
    assert limiter.retry_after("user:nobody") == 0


def test_keys_are_independent(limiter: FailedLoginLimiter) -> None:
    fail(limiter, 3, "user:alice")
    assert limiter.retry_after("user:alice") > 0
    assert limiter.retry_after("user:bob") == 0
    assert limiter.retry_after("ip:192.0.2.1") == 0


def test_any_locked_key_locks_the_attempt(limiter: FailedLoginLimiter) -> None:
    # one address trying many usernames is locked out by its address key
    for name in ("alice", "bob", "carol"):
        limiter.record_failure(f"user:{name}", "ip:192.0.2.1")
    assert limiter.retry_after("user:dave", "ip:192.0.2.1") == pytest.approx(300)
    assert limiter.retry_after("user:dave", "ip:198.51.100.7") == 0


def test_retry_after_is_the_longest_wait(limiter: FailedLoginLimiter, clock: FakeClock) -> None:
    fail(limiter, 3, "user:alice")
    clock.advance(100)
    fail(limiter, 3, "ip:192.0.2.1")
    assert limiter.retry_after("user:alice", "ip:192.0.2.1") == pytest.approx(300)


@pytest.mark.parametrize("max_failures", [1, 5, 10])
def test_max_failures_is_respected(clock: FakeClock, max_failures: int) -> None:
    limiter = FailedLoginLimiter(max_failures=max_failures, lockout_seconds=60, clock=clock)
    fail(limiter, max_failures - 1, "user:alice")
    assert limiter.retry_after("user:alice") == 0
    limiter.record_failure("user:alice")
    assert limiter.retry_after("user:alice") == pytest.approx(60)
