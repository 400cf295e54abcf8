"""Sign-in against a real OpenLDAP (Debian slapd): search-then-bind, AD attributes, groups, TLS, default deny."""

from __future__ import annotations

import pytest
import requests

from tests.helpers.hub import ADMIN_PASSWORD
from tests.helpers.hubclient import Student
from tests.helpers.ldap_settings import READER_ENV, ldap_config
from tests.helpers.sign_in import ldap_student, me

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("directory_reader_password")]


@pytest.fixture
def ldap_hub(campus, hub_factory, slapd):
    """A hub with built-in accounts and the directory side by side."""
    campus.update(**{"sign_in.ldap": ldap_config(slapd), "sign_in.local": {}})
    return hub_factory()


def test_login_page_offers_both_methods(ldap_hub):
    page = requests.get(f"{ldap_hub.url}/hub/login").text
    assert 'id="sign-in-local"' in page and 'id="sign-in-ldap"' in page
    assert "University account" in page


def test_member_of_an_allowed_group_signs_in_with_all_groups_synced(ldap_hub, slapd):
    alice = me(ldap_student(ldap_hub, slapd, "alice"))
    assert alice is not None and alice["name"] == "alice" and alice["admin"] is False
    # students directly; physics only through the nested students group.
    assert {"students", "physics"} <= set(alice["groups"])


def test_posix_group_and_group_cycles(ldap_hub, slapd):
    bob = me(ldap_student(ldap_hub, slapd, "bob"))
    assert "lab" in bob["groups"]
    carol = me(ldap_student(ldap_hub, slapd, "carol"))
    assert {"staff", "loop-a", "loop-b"} <= set(carol["groups"])


def test_admin_group_makes_an_admin(ldap_hub, slapd):
    dave = me(ldap_student(ldap_hub, slapd, "dave"))
    assert dave["admin"] is True and "hub-admins" in dave["groups"]


def test_person_outside_the_allowed_groups_is_refused(ldap_hub, slapd):
    erin = ldap_student(ldap_hub, slapd, "erin")
    assert me(erin) is None
    assert "Invalid username or password" in erin.last_response.text


def test_wrong_directory_password_is_refused(ldap_hub, slapd):
    alice = ldap_student(ldap_hub, slapd, "alice", password="not-her-password")
    assert me(alice) is None


HOSTILE_NAMES = ["*", ")(uid=*", "admin)(|(uid=*", "\\00", "alice\x00)(uid=*", "a" * 300, "ALICE*"]


@pytest.mark.parametrize("username", HOSTILE_NAMES)
def test_injection_attempts_are_refused_without_detail(ldap_hub, slapd, username):
    # With Alice's real password: only the username is hostile.
    student = ldap_student(ldap_hub, slapd, username, password=slapd.passwords["alice"])
    assert me(student) is None
    response = student.last_response
    assert response.status_code in (403, 200) and "Invalid username or password" in response.text
    assert "Traceback" not in response.text and "ldap" not in response.text.lower().replace('ldap"', "")


def test_the_same_name_from_two_methods_is_refused_unless_linked(ldap_hub, slapd, campus):
    # A built-in account "alice" exists first: the directory's alice is someone else until the admin links them.
    campus.add_user("alice", "local-alice-password-1")
    refused = ldap_student(ldap_hub, slapd, "alice")
    assert me(refused) is None
    assert "already used by another sign-in method" in refused.last_response.text
    local = Student(ldap_hub.url, "alice")
    local.sign_in("local-alice-password-1")
    assert me(local)["name"] == "alice"


def test_linked_by_username(campus, hub_factory, slapd):
    campus.update(**{"sign_in.ldap": ldap_config(slapd), "sign_in.local": {}, "sign_in.link_by": "username"})
    campus.add_user("alice", "local-alice-password-1")
    hub = hub_factory()
    assert me(ldap_student(hub, slapd, "alice"))["name"] == "alice"


def test_active_directory_style_login_by_samaccountname_over_ldaps(campus, hub_factory, slapd):
    config = ldap_config(slapd, url=slapd.ldaps_url, tls="ldaps")
    config["search"]["user_attribute"] = "sAMAccountName"
    campus.update(**{"sign_in.ldap": config})
    hub = hub_factory()
    frank = me(ldap_student(hub, slapd, "frank"))
    assert frank["name"] == "frank" and "students" in frank["groups"]


def test_untrusted_certificate_is_refused(campus, hub_factory, slapd):
    config = ldap_config(slapd, url=slapd.ldaps_url, tls="ldaps")
    del config["ca_cert"]  # the system CAs do not know the directory's test CA
    campus.update(**{"sign_in.ldap": config})
    hub = hub_factory()
    alice = ldap_student(hub, slapd, "alice")
    assert me(alice) is None
    assert alice.last_response.status_code == 503
    assert "cannot be reached" in alice.last_response.text


def test_check_names_the_failing_step(campus, slapd):
    env = {"CAMPUSHUB_TEST_LDAP_READER": "wrong-reader-password"}
    campus.update(**{"sign_in.ldap": ldap_config(slapd)})
    result = campus.cli("check", env=env)
    assert result.returncode == 1
    assert "ok   ldap connect" in result.stdout
    assert f"FAIL ldap bind: bind as {slapd.reader_dn} failed: invalidCredentials" in result.stdout
    assert "wrong-reader-password" not in result.stdout

    good = campus.cli("check")
    assert "ok   ldap bind" in good.stdout and "ok   ldap search base" in good.stdout


def test_check_says_when_nobody_can_get_in(campus, slapd):
    campus.update(**{"sign_in.ldap": ldap_config(slapd, allowed_groups=[], admin_groups=[])})
    result = campus.cli("check")
    assert result.returncode == 1
    assert "FAIL ldap allow rules: nobody from the directory can sign in" in result.stdout


def test_missing_environment_variable_is_a_clear_error(campus, slapd, monkeypatch):
    campus.update(**{"sign_in.ldap": ldap_config(slapd)})
    monkeypatch.delenv(READER_ENV)
    result = campus.cli("check")
    assert result.returncode == 2
    assert "CAMPUSHUB_TEST_LDAP_READER, which is not set" in result.stderr


def test_admin_from_campus_yaml_keeps_signing_in_locally(ldap_hub):
    admin = Student(ldap_hub.url, "admin")
    admin.sign_in(ADMIN_PASSWORD)
    assert me(admin)["admin"] is True


@pytest.mark.parametrize("typed", ["frank", "Frank@Campus.Test"])
def test_active_directory_user_principal_name(campus, hub_factory, slapd, typed):
    config = ldap_config(slapd, url=slapd.ldaps_url, tls="ldaps", username_domain="campus.test")
    config["search"]["user_attribute"] = "userPrincipalName"
    campus.update(**{"sign_in.ldap": config})
    hub = hub_factory()
    frank = me(ldap_student(hub, slapd, typed, password=slapd.passwords["frank"]))
    assert frank["name"] == "frank" and "students" in frank["groups"]


def test_another_upn_suffix_is_refused(campus, hub_factory, slapd):
    config = ldap_config(slapd, username_domain="campus.test")
    config["search"]["user_attribute"] = "userPrincipalName"
    campus.update(**{"sign_in.ldap": config})
    hub = hub_factory()
    assert me(ldap_student(hub, slapd, "frank@other.test", password=slapd.passwords["frank"])) is None
