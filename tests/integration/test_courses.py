"""Courses: servers warmed before a meeting (by the timetable, or by hand), and students land straight in them."""

from __future__ import annotations

import time

import pytest

from tests.helpers.hub import ADMIN_PASSWORD
from tests.helpers.hubclient import Student
from tests.helpers.ldap_settings import READER_ENV
from tests.helpers.sign_in import ldap_student

pytestmark = pytest.mark.integration

PASSWORD = "a-long-password-1"
ALL_DAY = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "23:59"}


def admin(hub) -> Student:
    student = Student(hub.url, "admin")
    student.sign_in(ADMIN_PASSWORD)
    return student


def wait_until_ready(admin_student: Student, names: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        users = [admin_student.hub_api("GET", f"/users/{name}") for name in names]
        if all(u.status_code == 200 and (u.json()["servers"].get("") or {}).get("ready") for u in users):
            return
        time.sleep(0.5)
    raise AssertionError(f"servers of {names} not ready after {timeout}s")


def test_the_timetable_warms_a_meetings_servers_and_students_land_in_them(campus, hub_factory):
    names = ["wa", "wb", "wc"]
    for name in names:
        campus.add_user(name, PASSWORD)
    campus.update(courses={"phys101": {"title": "Physics 101", "members": names, "meetings": [ALL_DAY]}})
    hub = hub_factory()
    wait_until_ready(admin(hub), names)  # nobody has signed in yet
    # The warmer logs once every request is answered, which may be just after the servers are ready.
    assert hub.wait_for_output("Warmed phys101 for its meeting")

    student = Student(hub.url, "wa")
    response = student.sign_in(PASSWORD)
    assert response.url.startswith(f"{hub.url}/user/wa/"), response.url  # straight to the running server
    assert "spawn-pending" not in " ".join(r.url for r in response.history)
    assert student.kernel().execute("print(1+1)").strip() == "2"


def test_warm_by_hand_and_groups_as_rosters(campus, hub_factory):
    campus.add_user("wd", PASSWORD)
    campus.update(courses={"chem": {"members": ["wd"], "groups": ["no-such-group-yet"]}})  # no meetings: by hand
    hub = hub_factory()
    first = campus.cli("courses", "warm", "chem")
    assert first.returncode == 0, first.stderr
    assert "chem: 1 started, 0 already running" in first.stdout
    wait_until_ready(admin(hub), ["wd"])
    again = campus.cli("courses", "warm", "chem")
    assert "chem: 0 started, 1 already running" in again.stdout


def test_warming_an_unknown_course_says_which_exist(campus):
    campus.update(courses={"chem": {"members": ["wd"]}})
    result = campus.cli("courses", "warm", "bio")
    assert result.returncode == 2
    assert "no course 'bio' in campus.yaml (courses: chem)" in result.stderr
    assert "Traceback" not in result.stderr


def test_warming_while_campushub_is_down_says_so(campus, hub_factory):
    campus.update(courses={"chem": {"members": ["wd"]}})
    hub_factory().stop()
    result = campus.cli("courses", "warm", "chem")
    assert result.returncode == 2
    assert "is `campushub up` running?" in result.stderr and "Traceback" not in result.stderr


def test_directory_groups_warm_people_who_never_signed_in(campus, hub_factory, slapd, monkeypatch):
    """The first lecture of a term: nobody has signed in, so CampusHub's copy of the groups is empty; the
    timetable and the warm command both read the directory's groups, and leave out whom sign-in would refuse."""
    monkeypatch.setenv(READER_ENV, slapd.reader_password)
    course = {"groups": ["physics", "visitors", "staff", "phsyics"], "meetings": [ALL_DAY]}  # alice, bob; erin; carol
    campus.update(**{"sign_in.ldap": slapd.sign_in_config(READER_ENV), "courses": {"phys201": course}})
    hub = hub_factory()
    wait_until_ready(admin(hub), ["alice", "bob", "carol"])
    output = hub.output()
    assert "Warmed phys201 for its meeting at" in output and ": 3 started, 0 already running, 0 failed" in output
    assert "not in `allowed_groups`): erin" in output
    assert slapd.reader_password not in output

    again = campus.cli("courses", "warm", "phys201")
    assert again.returncode == 0, again.stderr
    assert "phys201: 0 started, 3 already running" in again.stdout
    assert "not warmed, since sign-in would refuse them (not in `allowed_groups`): erin" in again.stderr
    assert "no usable `uid` in the directory: cn=Frank Miller" in again.stderr
    assert "no such group in the directory, and none with members in CampusHub: phsyics" in again.stderr
    assert admin(hub).hub_api("GET", "/users/erin").status_code == 404  # no account made for her

    alice = ldap_student(hub, slapd, "alice")
    assert alice.last_response.url.startswith(f"{hub.url}/user/alice/"), alice.last_response.url
    assert alice.kernel().execute("print(1+1)").strip() == "2"
