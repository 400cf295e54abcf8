"""Course groups beside groups synced from the directory (LDAP group sync on).

JupyterHub replaces a person's groups at each sign-in when groups are synced; CampusHub adds each
person's `course:<id>` groups to that list itself, so both kinds survive every sign-in, and people of
methods that sync nothing (built-in accounts) get their course groups too.
"""

from __future__ import annotations

import pytest

from tests.helpers.hubclient import Student
from tests.helpers.ldap_settings import ldap_config
from tests.helpers.sign_in import PASSWORD, me

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("directory_reader_password")]


@pytest.fixture
def courses_hub(campus, hub_factory, slapd):
    campus.update(
        **{
            "sign_in.local": {},
            "sign_in.ldap": ldap_config(slapd, sync_groups=True),
            "courses": {
                # physics is a directory group alice is in only through students (nested).
                "phys201": {"title": "Physics II", "members": ["bob"], "groups": ["physics"]},
                "lab9": {"title": "Lab", "members": ["lena"]},
            },
        }
    )
    campus.add_user("lena", PASSWORD)
    return hub_factory()


def directory_sign_in(hub, slapd, name: str) -> Student:
    student = Student(hub.url, name)
    student.session.get(f"{hub.url}/hub/login")
    form = {"username": name, "password": slapd.passwords[name], "method": "ldap", "_xsrf": student._xsrf()}
    student.last_response = student.session.post(f"{hub.url}/hub/login", data=form)
    return student


def test_synced_and_course_groups_survive_every_sign_in(courses_hub, slapd):
    for _ in range(2):
        alice = me(directory_sign_in(courses_hub, slapd, "alice"))
        assert {"students", "physics", "course:phys201"} <= set(alice["groups"])
        assert "course:lab9" not in alice["groups"]
    bob = me(directory_sign_in(courses_hub, slapd, "bob"))
    assert {"students", "lab", "course:phys201"} <= set(bob["groups"])


def test_people_of_methods_without_groups_get_their_courses(courses_hub):
    lena = Student(courses_hub.url, "lena")
    lena.sign_in(PASSWORD)
    assert me(lena)["groups"] == ["course:lab9"]


def test_someone_in_no_course_has_only_directory_groups(courses_hub, slapd):
    carol = me(directory_sign_in(courses_hub, slapd, "carol"))
    assert carol is not None and not [group for group in carol["groups"] if group.startswith("course:")]
    assert "staff" in carol["groups"]
