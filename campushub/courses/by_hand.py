"""`campushub courses warm ID`: one course warmed now, through the running hub, as the courses service.

The command borrows the courses service's role (a token made for it, ended when warming is done), so
it may do exactly what the timetable's warmer may: reach the people of the courses the running hub
was started with. The course, its roster's directory and the hub's address therefore come from the
effective configuration the hub runs with, not from campus.yaml as edited since.
"""

from __future__ import annotations

from campushub.config.schema import CampusConfig
from campushub.config.snapshot import read_snapshot
from campushub.courses.directory import roster_directory
from campushub.courses.hubapi import HubAPI, HubAPIError
from campushub.courses.warmer import WarmReport, warm
from campushub.errors import UserError
from campushub.hub.layout import database_url, layout_for
from campushub.services.access import hub_api_url, revoke_token, service_token
from campushub.services.builtin import COURSES_SERVICE

# Each request may wait for its server's start in the hub's start line: a large course takes minutes.
WARM_TOKEN_SECONDS = 3600
NOT_STARTED = "CampusHub has not been started with this course yet: run `campushub up` first."


def warm_by_hand(config: CampusConfig, course_id: str) -> WarmReport:
    """Warm `course_id` of the running configuration; UserError when the hub is down or lacks the course."""
    layout = layout_for(config)
    running = read_snapshot(layout.snapshot_file)
    course = running.courses.get(course_id)
    if course is None:
        raise UserError(NOT_STARTED)
    url = hub_api_url(running)
    try:
        HubAPI(url, "").request("GET", "/")
        db_url = database_url(running, layout)
        token = service_token(db_url, COURSES_SERVICE, "campushub courses warm", WARM_TOKEN_SECONDS)
        if token is None:
            raise UserError(NOT_STARTED)
        try:
            report = warm(HubAPI(url, token).wait_until_known(), course, roster_directory(running))
        finally:
            revoke_token(db_url, token)
    except HubAPIError as exc:
        raise UserError(f"the hub did not answer ({exc}): is `campushub up` running?") from None
    if config.courses.get(course_id) != course:
        report.notes.append(f"{course_id} changed in campus.yaml since CampusHub started: restart it to use the change")
    return report
