"""Two LDAP directories on one sign-in page (two Active Directory forests), each a method of its own.

Two real slapd processes. Each directory is configured alone: its own allow rules, its own groups,
its own names. A name belongs to the directory that first signed it in; `admins` may name one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.components.slapd import Directory, running_directory
from tests.helpers.hubclient import Student
from tests.helpers.ldap_settings import READER_ENV, ldap_config
from tests.helpers.sign_in import me

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("directory_reader_password")]


@pytest.fixture(scope="module")
def medical_school() -> Iterator[Directory]:
    """A second directory: another slapd on ports of its own, seeded with the same people."""
    with running_directory() as directory:
        yield directory


@pytest.fixture
def two_forests(campus, hub_factory, slapd, medical_school):
    campus.update(
        **{
            "sign_in.local": {},
            "sign_in.ldap": {
                "main": ldap_config(slapd, label="Main campus", allowed_groups=["students"]),
                "medical": ldap_config(medical_school, label="Medical school", allowed_groups=["students", "staff"]),
            },
            "admins": ["medical:carol"],
        }
    )
    return hub_factory()


def directory_sign_in(hub, method: str, name: str, password: str) -> Student:
    student = Student(hub.url, name)
    student.session.get(f"{hub.url}/hub/login")
    form = {"username": name, "password": password, "method": method, "_xsrf": student._xsrf()}
    student.last_response = student.session.post(f"{hub.url}/hub/login", data=form)
    return student


def test_each_directory_has_its_own_form(two_forests):
    page = requests.get(f"{two_forests.url}/hub/login").text
    assert 'id="sign-in-main"' in page and 'id="sign-in-medical"' in page and 'id="sign-in-local"' in page
    assert "Main campus" in page and "Medical school" in page


def test_each_directory_applies_its_own_rules(two_forests, slapd, medical_school):
    alice = me(directory_sign_in(two_forests, "main", "alice", slapd.passwords["alice"]))
    assert alice is not None and "students" in alice["groups"] and alice["admin"] is False
    # carol is staff: the medical school lets staff in, the main campus does not.
    assert me(directory_sign_in(two_forests, "main", "carol", slapd.passwords["carol"])) is None
    carol = me(directory_sign_in(two_forests, "medical", "carol", medical_school.passwords["carol"]))
    assert carol is not None and carol["admin"] is True  # `medical:carol` in admins


def test_a_name_belongs_to_the_directory_that_signed_it_in_first(two_forests, slapd, medical_school):
    assert me(directory_sign_in(two_forests, "main", "bob", slapd.passwords["bob"]))["name"] == "bob"
    other = directory_sign_in(two_forests, "medical", "bob", medical_school.passwords["bob"])
    assert me(other) is None
    assert other.last_response.status_code == 403
    assert "already used by another sign-in method" in other.last_response.text


def test_check_probes_each_directory(two_forests, campus):
    result = campus.cli("check", env={READER_ENV: "reader-password-1"})
    assert "ok   ldap main connect" in result.stdout and "ok   ldap medical connect" in result.stdout, result.stdout
    assert "ok   ldap main bind" in result.stdout and "ok   ldap medical bind" in result.stdout
