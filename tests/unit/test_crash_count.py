"""When `up` and the service lifeline stop restarting a process that keeps ending."""

from campushub.hub.lifeline import MAX_RESTARTS, SETTLE_TIME, CrashCount


def test_a_slow_start_that_fails_each_time_is_still_a_crash_loop():
    crashes = CrashCount()
    now = 0.0
    verdicts = []
    for _ in range(MAX_RESTARTS + 1):
        started, now = now, now + 20.0  # 20 s to import and die: six tries span two minutes
        verdicts.append(crashes.ended(started, now))
    assert verdicts == [True] * MAX_RESTARTS + [False]
    assert crashes.describe() == f"{MAX_RESTARTS + 1} times in a row within 60 seconds of starting"


def test_a_long_run_before_a_crash_starts_the_count_afresh():
    crashes = CrashCount()
    for _ in range(MAX_RESTARTS):
        assert crashes.ended(0.0, 1.0)
    assert crashes.ended(0.0, SETTLE_TIME + 1)
    assert crashes.in_a_row == 1
    assert crashes.ended(0.0, 1.0)
