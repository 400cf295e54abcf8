"""The timetable: when a course's servers are warmed, and when the unused ones are released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campushub.config.loader import parse_config
from campushub.config.schema import Course
from campushub.courses.schedule import meetings_to_warm, occurrences, release_due
from campushub.courses.warmer import unused_since
from campushub.errors import UserError

MONDAY = datetime(2026, 11, 23)  # a Monday


def course(**changes) -> Course:
    base = {"members": ["alice"], "meetings": [{"days": ["mon", "wed"], "start": "09:00", "end": "10:30"}]}
    return Course.model_validate({**base, **changes})


@pytest.mark.parametrize(
    ("clock", "warm"),
    [("08:49", False), ("08:50", True), ("10:29", True), ("10:30", False)],
)
def test_warm_from_the_lead_time_to_the_end(clock: str, warm: bool) -> None:
    now = datetime.combine(MONDAY.date(), datetime.strptime(clock, "%H:%M").time())
    due = meetings_to_warm({"phys": course(warm_before=600)}, now)
    assert bool(due) is warm
    if warm:
        assert due[0].start == MONDAY.replace(hour=9)


def test_only_on_its_days() -> None:
    tuesday = MONDAY + timedelta(days=1, hours=9, minutes=30)
    assert meetings_to_warm({"phys": course()}, tuesday) == []


def test_a_lead_time_reaching_into_yesterday() -> None:
    early = course(meetings=[{"days": ["tue"], "start": "00:10", "end": "01:00"}], warm_before=3600)
    monday_late = MONDAY.replace(hour=23, minute=30)
    assert [m.start for m in meetings_to_warm({"early": early}, monday_late)] == [
        MONDAY + timedelta(days=1, minutes=10)
    ]


def test_release_after_the_end() -> None:
    phys = course(release_after=900)
    (meeting,) = [m for m in occurrences("phys", phys, MONDAY.replace(hour=9)) if m.start.date() == MONDAY.date()]
    assert not release_due(phys, meeting, MONDAY.replace(hour=10, minute=44))
    assert release_due(phys, meeting, MONDAY.replace(hour=10, minute=45))


def test_bad_meetings_are_config_errors_with_the_line() -> None:
    text = "courses:\n  phys:\n    meetings:\n      - {days: [mon], start: '10:00', end: '09:00'}\n"
    with pytest.raises(UserError, match="must be later than"):
        parse_config(text, "campus.yaml")
    with pytest.raises(UserError, match="days"):
        parse_config("courses:\n  phys:\n    meetings:\n      - {days: [monday], start: '09:00', end: '10:00'}\n", "c")


def test_a_server_counts_as_used_after_activity_since_the_warm_start() -> None:
    warmed = datetime(2026, 11, 23, 8, 50, tzinfo=UTC)
    idle = {"last_activity": "2026-11-23T08:51:00Z", "servers": {"": {"last_activity": "2026-11-23T08:51:30Z"}}}
    used = {"last_activity": "2026-11-23T09:05:00Z", "servers": {"": {"last_activity": "2026-11-23T08:51:30Z"}}}
    assert unused_since(idle, warmed) is True
    assert unused_since(used, warmed) is False
    assert unused_since({"servers": {}}, warmed) is False  # nothing running: nothing to release
