"""The `github` preset: GitHub's OAuth app flow through the hub; organisations and teams as groups.

GitHub itself cannot be reached from the test machine, so the `github_standin` fixture serves the
endpoints GitHub documents, in GitHub Enterprise Server's layout, and the hub is pointed at it with
`github_url` as a campus with its own GitHub Enterprise would do.
"""

from __future__ import annotations

import pytest

from tests.components.oidc import login_through
from tests.helpers.github_people import ADA, BEN, CLIENT, NUMBERED, SECRET_ENV, TESS, github_section
from tests.helpers.hubclient import Student
from tests.helpers.sign_in import me, refused, with_query

pytestmark = pytest.mark.integration


@pytest.fixture
def github_hub(campus, hub_factory, github_standin, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, CLIENT["client_secret"])
    callback = f"{campus.url}/hub/oidc/github/oauth_callback"
    github = github_standin([{**CLIENT, "redirect_uri": callback}], [ADA, TESS, BEN, NUMBERED])
    section = github_section(github.url, admin_groups=["campus-courses:staff"])
    campus.update(**{"sign_in.oidc": {"github": section}})
    return hub_factory()


def github_sign_in(hub, user: dict) -> tuple[Student, object]:
    student = Student(hub.url, user["login"])
    start = f"{hub.url}/hub/oidc/github/oauth_login?next=/hub/home"
    return student, login_through(student.session, start, user["login"], user["password"])


def test_team_member_signs_in_with_orgs_and_teams_as_groups(github_hub):
    student, response = github_sign_in(github_hub, ADA)
    assert response.status_code == 200, response.text[:500]
    ada = me(student)
    assert ada["name"] == "ada-l" and ada["admin"] is False
    assert {"campus-courses", "campus-courses:cs101"} <= set(ada["groups"])


def test_admin_team_makes_an_admin(github_hub):
    student, _ = github_sign_in(github_hub, TESS)
    assert me(student)["admin"] is True


def test_outside_the_allowed_team_is_refused(github_hub):
    student, response = github_sign_in(github_hub, BEN)
    assert refused(response, 403, "not currently authorized to use this hub")
    assert me(student) is None


def test_a_login_outside_the_username_rule_is_refused_not_rewritten(github_hub):
    student, response = github_sign_in(github_hub, NUMBERED)
    assert refused(response, 403, "cannot be used on this hub")
    assert me(student) is None


def test_tampered_state_is_refused(github_hub):
    student = Student(github_hub.url, "ada-l")
    callback = f"{github_hub.url}/hub/oidc/github/oauth_callback"
    redirect = login_through(
        student.session,
        f"{github_hub.url}/hub/oidc/github/oauth_login",
        ADA["login"],
        ADA["password"],
        stop_at=callback,
    )
    response = student.session.get(with_query(redirect.headers["Location"], state="eyJzdGF0ZV9pZCI6ICJ4In0="))
    assert refused(response, 400, "OAuth state mismatch")
    assert me(student) is None


def test_check_reaches_the_github_api(campus, github_standin):
    github = github_standin([], [])
    section = {"preset": "github", "github_url": github.url, "client_id": "x", "client_secret": "y", "allow_all": True}
    campus.update(**{"sign_in.oidc": {"github": section}})
    result = campus.cli("check")
    assert f"ok   oidc github github api ({github.url}/api/v3/meta)" in result.stdout, result.stdout
