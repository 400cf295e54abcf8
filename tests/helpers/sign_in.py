"""Signing people in to a running hub as their browser would, by each sign-in method, and what the hub says back.

Shared by the tests of each method and by the tests that put several methods side by side
(linking, account takeover, courses).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests

from tests.components.oidc import login_through
from tests.helpers.hubclient import Student

# The password tests give built-in accounts.
PASSWORD = "a-long-password-1"


def me(student: Student) -> dict | None:
    """The hub's model of the signed-in person, or None when the session signs in nobody."""
    response = student.hub_api("GET", "/user")
    return response.json() if response.status_code == 200 else None


def refused(response: requests.Response, status: int, text: str) -> bool:
    """A refusal as a person should see it: the status, the reason, and no traceback."""
    return response.status_code == status and text in response.text and "Traceback" not in response.text


def with_query(url: str, **changes: str) -> str:
    """`url` with some query parameters replaced, as someone tampering with a redirect would."""
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


def running_student(campus, hub, name: str) -> Student:
    """A built-in account made with `campushub users add`, signed in, with its server started and ready."""
    campus.add_user(name, PASSWORD)
    student = Student(hub.url, name)
    student.sign_in(PASSWORD)
    student.wait_for_server()
    return student


def sign_up(base_url: str, username: str, password: str = PASSWORD, invite_code: str = "") -> requests.Response:
    """The sign-up form, filled in and sent; the page the hub answers with (404 where sign-up is closed)."""
    session = requests.Session()
    page = session.get(f"{base_url}/hub/signup")
    if page.status_code != 200:
        return page
    form = {"username": username, "password": password, "password_confirm": password, "_xsrf": session.cookies["_xsrf"]}
    if invite_code:
        form["invite_code"] = invite_code
    return session.post(f"{base_url}/hub/signup", data=form)


def ldap_student(hub, slapd, name: str, password: str | None = None) -> Student:
    """Sign in through the directory's form (method `ldap`); the hub's answer is in `.last_response`."""
    student = Student(hub.url, name)
    student.session.get(f"{hub.url}/hub/login")
    student.last_response = student.session.post(
        f"{hub.url}/hub/login",
        data={
            "username": name,
            "password": password or slapd.passwords[name],
            "method": "ldap",
            "_xsrf": student._xsrf(),
        },
    )
    return student


def login_url(hub, method: str, next_url: str = "/hub/home") -> str:
    """Where an OpenID Connect method's button leads; /hub/home by default, to look at the account, not a spawn."""
    return f"{hub.url}/hub/oidc/{method}/oauth_login?{urlencode({'next': next_url})}"


def sso_sign_in(hub, method: str, user: dict) -> tuple[Student, requests.Response]:
    """Through an OpenID Connect method and the provider's login form, back to the hub: (browser, last page)."""
    student = Student(hub.url, user["username"])
    response = login_through(student.session, login_url(hub, method), user["username"], user["password"])
    return student, response
