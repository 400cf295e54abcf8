"""Warm servers for a course: started before its meetings, released after if nobody used them.

Runs as a JupyterHub service (`python -m campushub.courses.warmer`) that looks at the timetable
every half minute; `campushub courses warm ID` uses the same code to warm a course by hand.
A student who signs in to a warm server goes straight to it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from campushub.config.schema import Course
from campushub.config.snapshot import read_snapshot, snapshot_path
from campushub.courses.directory import (
    DirectoryRoster,
    DirectoryUnavailable,
    directory_roster,
    roster_directory,
    uses_directory_rosters,
)
from campushub.courses.hubapi import HubAPI, HubAPIError
from campushub.courses.schedule import MeetingTime, meetings_to_warm, release_due
from campushub.errors import UserError
from campushub.identity.methods.ldap import LdapSignIn

TICK_SECONDS = 30
WARM_REQUESTS = 32
# Activity this long after warming means the student used the server (its start reports some itself).
USED_AFTER = timedelta(minutes=2)
log = logging.getLogger("campushub.warmer")


@dataclass
class WarmReport:
    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # who was left out of the roster, and why


def roster(api: HubAPI, course: Course, ldap: LdapSignIn | None = None) -> tuple[list[str], list[str]]:
    """Members, members of its CampusHub groups, and (with a directory to search) of its directory groups.

    Returns the usernames and notes on whom the directory's groups could not contribute.
    """
    names = set(course.members)
    in_hub = {group: api.group_members(group) for group in course.groups}
    for members in in_hub.values():
        names.update(members)
    notes: list[str] = []
    if course.groups and ldap is not None and uses_directory_rosters(ldap):
        try:
            found = directory_roster(ldap, course.groups)
        except DirectoryUnavailable as exc:
            notes.append(f"{exc}; only the groups' members who have signed in before were warmed")
        else:
            names |= found.usernames
            notes.extend(roster_notes(found, ldap))
            nowhere = sorted(group for group in found.unknown_groups if not in_hub[group])
            if nowhere:
                missing = ", ".join(nowhere)
                notes.append(f"no such group in the directory, and none with members in CampusHub: {missing}")
    return sorted(names), notes


def roster_notes(found: DirectoryRoster, ldap: LdapSignIn) -> list[str]:
    notes = []
    if found.not_allowed:
        refused = ", ".join(sorted(found.not_allowed))
        notes.append(f"not warmed, since sign-in would refuse them (not in `allowed_groups`): {refused}")
    if found.unnamed:
        attribute = ldap.search.user_attribute if ldap.search else "uid"
        notes.append(f"not warmed, no usable `{attribute}` in the directory: {'; '.join(sorted(found.unnamed))}")
    return notes


def warm_one(api: HubAPI, name: str) -> str:
    """'started' or 'already running'; HubAPIError when the hub refuses."""
    user = api.user(name)
    if user is None:
        api.create_user(name)
    elif user.get("servers", {}).get(""):
        return "already running"
    api.start_server(name)
    return "started"


def warm(api: HubAPI, course: Course, ldap: LdapSignIn | None = None) -> WarmReport:
    """Start the server of everyone in the course who has none, all requests at once: the hub's start line paces
    the starts themselves, and each request may wait for its start a while before the hub answers."""
    names, notes = roster(api, course, ldap)
    report = WarmReport(notes=notes)
    with ThreadPoolExecutor(max_workers=WARM_REQUESTS) as pool:
        outcomes = {name: pool.submit(warm_one, api, name) for name in names}
    for name, outcome in outcomes.items():
        try:
            (report.started if outcome.result() == "started" else report.already_running).append(name)
        except HubAPIError as exc:
            report.failed[name] = str(exc)
    return report


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def unused_since(user: dict, warmed_at: datetime) -> bool:
    """No sign of the student after the warm start: neither they nor their server did anything since."""
    server = user.get("servers", {}).get("")
    if not server:
        return False
    stamps = [_parse_time(user.get("last_activity")), _parse_time(server.get("last_activity"))]
    return all(stamp is None or stamp <= warmed_at + USED_AFTER for stamp in stamps)


def release(api: HubAPI, warmed: dict[str, datetime]) -> list[str]:
    stopped = []
    for name, warmed_at in warmed.items():
        user = api.user(name)
        if user is not None and unused_since(user, warmed_at):
            api.stop_server(name)
            stopped.append(name)
    return stopped


@dataclass
class Warmer:
    """The service's memory: which servers it started for which meeting (forgotten on restart: the culler's)."""

    api: HubAPI
    courses: dict[str, Course]
    ldap: LdapSignIn | None = None
    warmed: dict[MeetingTime, dict[str, datetime]] = field(default_factory=dict)

    def tick(self, now_local: datetime, now_utc: datetime) -> None:
        for meeting in meetings_to_warm(self.courses, now_local):
            if meeting not in self.warmed:
                report = warm(self.api, self.courses[meeting.course], self.ldap)
                self.warmed[meeting] = dict.fromkeys(report.started, now_utc)
                log.info(
                    "Warmed %s for its meeting at %s: %d started, %d already running, %d failed",
                    meeting.course,
                    meeting.start.strftime("%a %H:%M"),
                    len(report.started),
                    len(report.already_running),
                    len(report.failed),
                )
                for name, reason in report.failed.items():
                    log.warning("Could not warm %s's server: %s", name, reason)
                for note in report.notes:
                    log.warning("%s: %s", meeting.course, note)
        for meeting in list(self.warmed):
            if release_due(self.courses[meeting.course], meeting, now_local):
                stopped = release(self.api, self.warmed.pop(meeting))
                log.info("Released %d unused server(s) of %s%s", len(stopped), meeting.course, _names(stopped))


def _names(names: list[str]) -> str:
    return f": {', '.join(names)}" if names else ""


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s campushub-warmer] %(message)s")
    try:
        config = read_snapshot(snapshot_path())
    except UserError as exc:
        log.error("%s", exc)
        sys.exit(1)
    courses = dict(config.courses)
    api = HubAPI(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
    warmer = Warmer(api, courses, roster_directory(config))
    log.info("Watching the timetable of %d course(s)", len(courses))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))  # the hub stopping: nothing to clean up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        try:
            warmer.tick(datetime.now(), datetime.now(UTC))
        except HubAPIError as exc:
            log.warning("%s (trying again in %ss)", exc, TICK_SECONDS)
        sys.stdout.flush()
        time.sleep(TICK_SECONDS)


if __name__ == "__main__":
    main()
