"""Profiles on a real hub: each person is offered only what they may use, and every way of starting is checked.

A course-limited profile is invisible to people outside the course; a forged spawn form or an API call
asking for it, or for more memory beside a profile, is refused with a 403 that says what may be
chosen; the profile chosen decides the server's real cgroup limits.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import Student
from tests.helpers.procfs import alive, group_dir, server_pid
from tests.helpers.restarts import new_hub_running, pid_in, route_works, run_dir, wait_until
from tests.helpers.restarts import server_pid as server_pid_of
from tests.helpers.sign_in import PASSWORD, running_student

pytestmark = pytest.mark.integration

PROFILES = {
    "standard": {"title": "Standard", "description": "For coursework.", "cpu": 1, "memory": "1G"},
    "roomy": {"title": "Roomy", "memory": "2G"},
    "lab": {"title": "Lab machine", "description": "Only for Lab 9.", "memory": "768M", "courses": ["lab9"]},
}


@pytest.fixture
def profiles_hub(campus, hub_factory):
    campus.update(
        **{
            "compute.profiles": PROFILES,
            "courses": {"lab9": {"title": "Lab 9", "members": ["bob", "carol"], "profile": "lab"}},
        }
    )
    for name in ("alice", "bob"):
        campus.add_user(name, PASSWORD)
    return hub_factory()


def offered(page: str) -> dict[str, bool]:
    """Profile name -> whether it is selected, from the spawn form's radio buttons."""
    return {
        match["slug"]: bool(match["checked"])
        for match in re.finditer(r'name="profile" value="(?P<slug>[^"]+)"(?P<checked> checked)?', page)
    }


def signed_in(hub, name: str) -> tuple[Student, str]:
    student = Student(hub.url, name)
    # Sign-in goes on to the spawn page: the form, when there is a choice (UTF-8, as its <meta> says).
    page = student.sign_in(PASSWORD).content.decode()
    return student, page


def post_form(student: Student, **fields: str):
    return student.session.post(f"{student.base_url}/hub/spawn", data={**fields, "_xsrf": student._xsrf()})


def memory_limit_of(campus, name: str) -> int:
    pid = server_pid(f"{TEST_USER_PREFIX}{name}")
    return int((group_dir("memory", pid) / "memory.limit_in_bytes").read_text())


def test_a_person_is_offered_only_their_profiles_and_forged_choices_are_refused(campus, profiles_hub):
    alice, page = signed_in(profiles_hub, "alice")
    assert offered(page) == {"standard": True, "roomy": False}
    assert "Lab machine" not in page and "For coursework." in page and "1 core · 1 GiB" in page

    hidden = post_form(alice, profile="lab")
    assert hidden.status_code == 403
    assert "There is no profile `lab` you may use. Profiles available to you: `standard`, `roomy`." in hidden.text

    more = post_form(alice, profile="standard", memory="64G", image="evil/image")
    assert more.status_code == 403
    assert "`image`, `memory` cannot be asked for" in more.text

    through_api = alice.hub_api("POST", "/users/alice/server", json={"user_options": {"profile": "lab"}})
    assert through_api.status_code == 403, through_api.text
    assert "There is no profile `lab`" in through_api.text
    assert alice.server() is None

    chosen = post_form(alice, profile="roomy")
    assert chosen.status_code == 200, chosen.text
    alice.wait_for_server()
    assert memory_limit_of(campus, "alice") == 2 << 30


def test_a_course_member_starts_with_the_course_profile(campus, profiles_hub):
    bob, page = signed_in(profiles_hub, "bob")
    assert offered(page) == {"standard": False, "roomy": False, "lab": True}
    bob.start_server()  # through the API, naming no profile: the course's default
    assert memory_limit_of(campus, "bob") == 768 << 20


def test_a_server_warmed_for_a_meeting_gets_the_course_profile_before_its_student_ever_signed_in(campus, profiles_hub):
    warmed = campus.cli("courses", "warm", "lab9")
    assert warmed.returncode == 0 and "2 started" in warmed.stdout, warmed.stdout + warmed.stderr
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            assert memory_limit_of(campus, "carol") == 768 << 20
            return
        except (AssertionError, KeyError, FileNotFoundError):
            time.sleep(0.5)
    raise AssertionError(f"carol's server did not start with the lab profile: {warmed.stdout}")


def test_a_reload_that_adds_profiles_keeps_the_running_servers(campus, hub_factory):
    hub = hub_factory()
    alice = running_student(campus, hub, "alice")
    kernel = alice.kernel()
    kernel.execute("answer = 6 * 7")
    server = server_pid_of(campus, "alice")
    old_hub = pid_in(run_dir(campus) / "hub.pid")

    campus.update(**{"compute.profiles": PROFILES, "courses": {"lab9": {"title": "Lab 9", "members": ["bob"]}}})
    result = campus.cli("reload")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compute.profiles" in result.stdout and "no user's server was stopped" in result.stdout
    wait_until(lambda: new_hub_running(campus, old_hub), 60, "the hub after the reload")
    wait_until(lambda: route_works(alice), 60, "alice's route after the reload")
    assert server_pid_of(campus, "alice") == server
    kernel.close()
    assert kernel.execute("print(answer)").strip() == "42"

    alice.stop_server()  # the hub still knows the server it did not start: stopping it ends the process
    wait_until(lambda: not alive(server), 30, "alice's server stopped")
