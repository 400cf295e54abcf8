"""When a course's servers should be warm: pure functions of campus.yaml's meetings and the clock.

Times are the hub machine's local time, as people read a timetable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from campushub.config.schema import Course

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MeetingTime:
    """One meeting of one course on one day."""

    course: str
    start: datetime
    end: datetime


def occurrences(course_id: str, course: Course, around: datetime) -> list[MeetingTime]:
    """The course's meetings yesterday, today and tomorrow (enough for any lead or release time under a day)."""
    found = []
    for offset in (-1, 0, 1):
        day = (around + timedelta(days=offset)).date()
        weekday = WEEKDAYS[day.weekday()]
        for meeting in course.meetings:
            if weekday in meeting.days:
                start = datetime.combine(day, time.fromisoformat(meeting.start))
                end = datetime.combine(day, time.fromisoformat(meeting.end))
                found.append(MeetingTime(course_id, start, end))
    return sorted(found, key=lambda m: m.start)


def meetings_to_warm(courses: dict[str, Course], now: datetime) -> list[MeetingTime]:
    """Meetings whose servers should be running now: from `warm_before` ahead of the start to the end."""
    due = []
    for course_id, course in courses.items():
        lead = timedelta(seconds=course.warm_before)
        due += [m for m in occurrences(course_id, course, now) if m.start - lead <= now < m.end]
    return due


def release_due(course: Course, meeting: MeetingTime, now: datetime) -> bool:
    return now >= meeting.end + timedelta(seconds=course.release_after)
