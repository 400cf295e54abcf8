"""What a verified LTI launch becomes: a username, a course role, a course ID, and the groups that follow."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from campushub.identity.groups import groups_after_sign_in
from campushub.identity.lti_claims import (
    LIS_CLAIM,
    LaunchRefused,
    course_slug,
    free_course_id,
    mapped_course,
    role_of,
    username_of,
)
from campushub.identity.methods.lti import LtiSignIn
from campushub.identity.usernames import InvalidUsername

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"


def test_lis_roles_become_course_roles() -> None:
    assert role_of([f"{MEMBERSHIP}#Learner"]) == "student"
    assert role_of([f"{MEMBERSHIP}/Instructor#TeachingAssistant", f"{MEMBERSHIP}#Instructor"]) == "ta"
    assert role_of([f"{MEMBERSHIP}#Instructor", "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"]) \
        == "instructor"  # fmt: skip
    assert role_of(["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"]) is None  # not a course role
    assert role_of([f"{MEMBERSHIP}#Mentor"]) is None


def test_usernames_come_from_the_configured_claim_and_never_from_another() -> None:
    claims = {"sub": "u-1", "email": "Ada@Campus.test", LIS_CLAIM: {"person_sourcedid": "s12345"}}
    assert username_of(claims, "email", ["campus.test"]) == "ada"
    assert username_of(claims, "email", []) == "ada"
    assert username_of(claims, "person_sourcedid", []) == "s12345"
    with pytest.raises(InvalidUsername):
        username_of(claims, "email", ["other.test"])
    with pytest.raises(LaunchRefused, match="preferred username"):
        username_of(claims, "preferred_username", [])  # missing: refused, not the `sub` of someone else's account


def test_lms_courses_get_free_ids_or_the_admins_mapping() -> None:
    assert course_slug("PHYS 101 (Winter)") == "phys-101-winter"
    assert course_slug("   ") == "course"
    assert free_course_id("phys-101", {"phys-101", "phys-101-2"}) == "phys-101-3"
    assert mapped_course({"id": "c9", "label": "PHYS-A"}, {"PHYS-A": "phys101"}) == "phys101"
    assert mapped_course({"id": "c9", "label": "X"}, {"PHYS-A": "phys101"}) is None


def test_launched_courses_survive_a_sign_in_that_syncs_other_groups() -> None:
    groups = groups_after_sign_in("ada", ["staff", "course:forged"], [], {}, {"data-101": "ta"})
    assert groups == ["course:data-101", "course:data-101:ta", "staff"]


def test_platform_settings_fill_in_each_lms_and_say_what_is_missing() -> None:
    canvas = LtiSignIn(lms="canvas", client_id="10000000000001", deployment_ids=["1:abc"])
    assert canvas.endpoint("issuer") == "https://canvas.instructure.com"
    assert canvas.endpoint("jwks_url") == "https://sso.canvaslms.com/api/lti/security/jwks"
    moodle = LtiSignIn(lms="moodle", site="https://moodle.example.edu/", client_id="x", deployment_ids=["1"])
    assert moodle.endpoint("issuer") == "https://moodle.example.edu"
    assert moodle.endpoint("auth_login_url") == "https://moodle.example.edu/mod/lti/auth.php"
    blackboard = LtiSignIn(lms="blackboard", client_id="app-1", deployment_ids=["d"])
    assert blackboard.endpoint("jwks_url").endswith("/applications/app-1/jwks.json")
    with pytest.raises(ValidationError, match="give `site`"):
        LtiSignIn(lms="brightspace", client_id="x", deployment_ids=["1"])
    with pytest.raises(ValidationError, match="give `issuer`, `auth_login_url`, `jwks_url`"):
        LtiSignIn(client_id="x", deployment_ids=["1"])


def test_check_says_when_the_lms_keys_cannot_be_fetched() -> None:
    from campushub.identity.lti import jwks_summary

    count, problem = jwks_summary("http://127.0.0.1:9/jwks")  # nothing listens on the discard port
    assert count == 0 and problem is not None and "cannot fetch the LMS's keys" in problem and "jwks_url" in problem


def test_link_by_username_is_refused_beside_launches_named_by_any_address(tmp_path) -> None:
    from campushub.config.loader import parse_config
    from campushub.errors import UserError

    text = (
        "admins: [ada]\nsign_in:\n  link_by: username\n  local:\n    signup: closed\n  lti:\n    lms:\n"
        "      lms: canvas\n      client_id: '1000'\n      deployment_ids: ['1:abc']\n"
    )
    with pytest.raises(UserError, match=r"`link_by: username` would let anyone.*lms"):
        parse_config(text, tmp_path / "campus.yaml")
    config = parse_config(text + "      email_domains: [campus.test]\n", tmp_path / "campus.yaml")
    assert config.sign_in.link_by == "username"


def test_a_course_folder_already_made_is_seen_without_following_links(tmp_path) -> None:
    import os

    from campushub.identity.lti import already_made

    assert not already_made(tmp_path, "phys101")
    (tmp_path / "courses" / "phys101").mkdir(parents=True)
    assert already_made(tmp_path, "phys101")
    os.rename(tmp_path / "courses", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", tmp_path / "courses")  # the person's link to anywhere
    assert not already_made(tmp_path, "phys101")
