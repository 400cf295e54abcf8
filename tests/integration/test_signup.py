"""Sign-up modes and the login lockout, against a real hub."""

from __future__ import annotations

import re

import pytest
import requests

from tests.helpers.databases import on_both_databases
from tests.helpers.hub import ADMIN_PASSWORD
from tests.helpers.hubclient import Student
from tests.helpers.sign_in import PASSWORD, sign_up

pytestmark = pytest.mark.integration


def signed_in(base_url: str, username: str, password: str = PASSWORD) -> bool:
    student = Student(base_url, username)
    student.sign_in(password)
    return student.hub_api("GET", "/user").status_code == 200


def test_closed_signup_has_no_page_and_no_link(campus, hub):
    assert sign_up(hub.url, "mallory").status_code == 404
    assert "signup" not in requests.get(f"{hub.url}/hub/login").text
    assert not signed_in(hub.url, "mallory")


def test_open_signup_creates_a_working_account(campus, hub_factory):
    campus.update(**{"sign_in.local.signup": "open"})
    hub = hub_factory()
    assert 'href="/hub/signup"' in requests.get(f"{hub.url}/hub/login").text
    response = sign_up(hub.url, "Dave")
    assert response.status_code == 200 and "ready" in response.text
    assert signed_in(hub.url, "dave")
    # The same name again, in another case, is the same account: refused, not a second account.
    assert sign_up(hub.url, "DAVE").status_code == 400
    # Nobody becomes admin by signing up.
    dave = Student(hub.url, "dave")
    dave.sign_in(PASSWORD)
    assert dave.hub_api("GET", "/user").json()["admin"] is False


@pytest.mark.parametrize(
    ("username", "password", "confirm", "problem"),
    [
        ("eve", "short", "short", "at least 10 characters"),
        ("eve", PASSWORD, PASSWORD + "x", "passwords differ"),
        ("eve*)(uid=*", PASSWORD, PASSWORD, "not a valid username"),
        ("", PASSWORD, PASSWORD, "cannot be empty"),
    ],
)
def test_open_signup_rejects_bad_input_with_a_reason(campus, hub_factory, username, password, confirm, problem):
    campus.update(**{"sign_in.local.signup": "open"})
    hub = hub_factory()
    session = requests.Session()
    session.get(f"{hub.url}/hub/signup")
    response = session.post(
        f"{hub.url}/hub/signup",
        data={
            "username": username,
            "password": password,
            "password_confirm": confirm,
            "_xsrf": session.cookies["_xsrf"],
        },
    )
    assert response.status_code == 400
    assert problem in response.text
    assert "Traceback" not in response.text


@on_both_databases
def test_approval_signup_waits_for_an_admin(campus, hub_factory):
    campus.update(**{"sign_in.local.signup": "approval"})
    hub = hub_factory()
    response = sign_up(hub.url, "erin")
    assert "approves" in response.text
    erin = Student(hub.url, "erin")
    assert "waiting for an administrator" in erin.sign_in(PASSWORD).text
    assert not signed_in(hub.url, "erin")

    # The admin approves in the web page ...
    admin = Student(hub.url, "admin")
    admin.sign_in(ADMIN_PASSWORD)
    page = admin.session.get(f"{hub.url}/hub/accounts")
    assert "account-erin" in page.text and "pending" in page.text
    approved = admin.session.post(
        f"{hub.url}/hub/accounts", data={"approve": "erin", "_xsrf": admin.session.cookies.get("_xsrf", path="/hub/")}
    )
    assert approved.status_code == 200
    assert signed_in(hub.url, "erin")

    # ... or on the command line.
    sign_up(hub.url, "frank")
    assert not signed_in(hub.url, "frank")
    result = campus.cli("users", "approve", "frank")
    assert result.returncode == 0, result.stderr
    assert signed_in(hub.url, "frank")


def test_accounts_page_is_for_admins_only(campus, hub_factory):
    campus.update(**{"sign_in.local.signup": "approval"})
    hub = hub_factory()
    campus.add_user("grace", PASSWORD)
    grace = Student(hub.url, "grace")
    grace.sign_in(PASSWORD)
    assert grace.session.get(f"{hub.url}/hub/accounts").status_code == 403
    response = grace.session.post(
        f"{hub.url}/hub/accounts", data={"approve": "x", "_xsrf": grace.session.cookies.get("_xsrf", path="/hub/")}
    )
    assert response.status_code == 403


def test_invite_signup_needs_a_valid_code(campus, hub_factory):
    campus.update(**{"sign_in.local.signup": "invite"})
    hub = hub_factory()
    result = campus.cli("users", "invite", "--uses", "1")
    assert result.returncode == 0, result.stderr
    code = result.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{12,}", code)

    assert "not valid" in sign_up(hub.url, "heidi", invite_code="not-a-code").text
    assert not signed_in(hub.url, "heidi")
    assert "ready" in sign_up(hub.url, "heidi", invite_code=code).text
    assert signed_in(hub.url, "heidi")
    # Used up after one account.
    assert "not valid" in sign_up(hub.url, "ivan", invite_code=code).text


def test_repeated_failures_lock_the_address_out(campus, hub_factory):
    # Per address: the account itself is only slowed down (tests/integration/test_sign_in_throttle.py).
    campus.update(**{"sign_in.local.max_failed_logins": 3})
    hub = hub_factory()
    campus.add_user("judy", PASSWORD)
    judy = Student(hub.url, "judy")
    for _ in range(3):
        assert "Invalid username or password" in judy.sign_in("wrong-password-9").text
    locked = judy.sign_in(PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins from your address. Try again in 5 minutes." in locked.text
    assert "Traceback" not in locked.text
    assert judy.hub_api("GET", "/user").status_code == 403


def test_a_forged_client_address_does_not_escape_the_lockout(campus, hub_factory):
    campus.update(**{"sign_in.local.max_failed_logins": 3})
    hub = hub_factory()
    campus.add_user("kate", PASSWORD)
    for attempt in range(4):
        guesser = Student(hub.url, f"guess{attempt}")
        guesser.session.headers["X-Real-IP"] = f"198.51.100.{attempt}"
        guesser.session.headers["X-Forwarded-For"] = f"198.51.100.{attempt}"
        response = guesser.sign_in("wrong-password-9", username=f"nobody{attempt}")
    assert response.status_code == 429


@pytest.mark.parametrize("username", ["*", ")(uid=*", "admin)(|(uid=*", "\\00", "a" * 500, "../admin", "Admin "])
def test_odd_usernames_never_sign_in_as_someone_else(campus, hub, username):
    student = Student(hub.url, "admin")
    response = student.sign_in(ADMIN_PASSWORD, username=username)
    if username.strip().lower() == "admin":
        # Case and surrounding spaces are the same account, by design.
        assert student.hub_api("GET", "/user").json()["name"] == "admin"
    else:
        assert "Invalid username or password" in response.text
        assert student.hub_api("GET", "/user").status_code == 403
