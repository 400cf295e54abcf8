"""Guessing and flooding against a real hub, from real distinct addresses.

Each client binds its own loopback source address (127.0.0.2, 127.0.0.3, ...); the hub's public proxy
listens on 127.0.0.1 and reports the address that connected to it, so these are distinct visitors to the
hub as much as two machines would be.
"""

from __future__ import annotations

import time

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.helpers.hub import ADMIN_PASSWORD
from tests.helpers.hubclient import Student
from tests.helpers.ldap_settings import READER_ENV

pytestmark = pytest.mark.integration

PASSWORD = "a-long-password-1"
WRONG = "wrong-password-9"


class SourceAddressAdapter(HTTPAdapter):
    """Connections that leave from `source`, a loopback address of the test's choosing."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(address))
    return session


def visitor(base_url: str, name: str, address: str) -> Student:
    return Student(base_url, name, session=session_from(address))


def signed_in_as(student: Student) -> str | None:
    response = student.hub_api("GET", "/user")
    return response.json()["name"] if response.status_code == 200 else None


def guess(base_url: str, victim: str, address: str, tries: int = 12, method: str | None = None) -> list[int]:
    """Wrong passwords for `victim` from `address`; the status code of each answer."""
    guesser = visitor(base_url, victim, address)
    statuses = []
    for _ in range(tries):
        guesser.session.get(f"{base_url}/hub/login")
        form = {"username": victim, "password": WRONG, "_xsrf": guesser._xsrf()}
        if method:
            form["method"] = method
        statuses.append(guesser.session.post(f"{base_url}/hub/login", data=form).status_code)
    return statuses


def test_a_guesser_is_stopped_at_its_address_and_the_owner_still_gets_in(campus, hub_factory):
    hub = hub_factory()
    campus.add_user("dora", PASSWORD)
    for victim, password, attacker, owner in (
        ("dora", PASSWORD, "127.0.0.2", "127.0.0.3"),
        ("admin", ADMIN_PASSWORD, "127.0.0.4", "127.0.0.5"),
    ):
        statuses = guess(hub.url, victim, attacker)
        # The default max_failed_logins is 5: five refusals (403), then the address is stopped (429).
        assert statuses == [403] * 5 + [429] * 7, statuses
        stopped = visitor(hub.url, victim, attacker)
        refused = stopped.sign_in(password)
        assert refused.status_code == 429 and "Try again in 5 minutes" in refused.text
        assert signed_in_as(stopped) is None

        # The owner, from her own address, gets in with the right password: slowed down, not locked out.
        person = visitor(hub.url, victim, owner)
        started = time.monotonic()
        response = person.sign_in(password)
        waited = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert signed_in_as(person) == victim
        assert waited >= 1.5, f"five recent failures should slow the account down by 2 s, waited {waited:.1f} s"

        # Her success ended the slowdown, but not the guesser's stop.
        assert visitor(hub.url, victim, attacker).sign_in(password).status_code == 429


def test_directory_failures_count_against_the_address_for_every_method(
    campus, hub_factory, slapd, directory_reader_password
):
    campus.update(
        **{
            "sign_in.ldap": slapd.sign_in_config(READER_ENV),
            "sign_in.local": {"max_failed_logins": 3},
        }
    )
    hub = hub_factory()
    campus.add_user("dora", PASSWORD)
    assert guess(hub.url, "alice", "127.0.0.2", tries=4, method="ldap") == [403, 403, 403, 429]
    # The same address cannot switch to the built-in accounts' form ...
    from_guesser = visitor(hub.url, "dora", "127.0.0.2")
    assert from_guesser.sign_in(PASSWORD).status_code == 429
    assert signed_in_as(from_guesser) is None
    # ... while alice herself, elsewhere, still signs in through the directory.
    alice = visitor(hub.url, "alice", "127.0.0.3")
    alice.session.get(f"{hub.url}/hub/login")
    form = {"username": "alice", "password": slapd.passwords["alice"], "method": "ldap", "_xsrf": alice._xsrf()}
    assert alice.session.post(f"{hub.url}/hub/login", data=form).status_code == 200
    assert signed_in_as(alice) == "alice"


def sign_up(base_url: str, username: str, address: str) -> requests.Response:
    session = session_from(address)
    session.get(f"{base_url}/hub/signup")
    form = {"username": username, "password": PASSWORD, "password_confirm": PASSWORD}
    return session.post(f"{base_url}/hub/signup", data={**form, "_xsrf": session.cookies.get("_xsrf", "")})


def test_a_burst_of_sign_ups_from_one_address_is_refused(campus, hub_factory):
    campus.update(**{"sign_in.local.signup": "open", "sign_in.local.signup_per_hour": 3})
    hub = hub_factory()
    assert [sign_up(hub.url, f"bulk{n}", "127.0.0.2").status_code for n in range(3)] == [200, 200, 200]
    refused = sign_up(hub.url, "bulk3", "127.0.0.2")
    assert refused.status_code == 429
    assert "Too many sign-up requests from your address. Try again in 60 minutes." in refused.text
    assert "Traceback" not in refused.text
    assert signed_in_as(visitor(hub.url, "bulk3", "127.0.0.2")) is None
    # Someone else, elsewhere, still can.
    other = sign_up(hub.url, "olga", "127.0.0.3")
    assert other.status_code == 200 and "ready" in other.text
    olga = visitor(hub.url, "olga", "127.0.0.3")
    olga.sign_in(PASSWORD)
    assert signed_in_as(olga) == "olga"


def test_approval_sign_up_pauses_when_too_many_requests_wait(campus, hub_factory):
    campus.update(**{"sign_in.local.signup": "approval", "sign_in.local.max_pending": 2})
    hub = hub_factory()
    for n, name in enumerate(("pia", "quin")):
        assert "approves" in sign_up(hub.url, name, f"127.0.0.{n + 2}").text
    paused = sign_up(hub.url, "rosa", "127.0.0.4")
    assert paused.status_code == 503
    assert "Sign-up is paused until an administrator has handled the account requests already waiting" in paused.text
    assert 'id="username_input"' not in paused.text
    assert "rosa" not in campus.cli("users", "list").stdout

    # Once an administrator approves one, there is room again.
    assert campus.cli("users", "approve", "pia").returncode == 0
    assert "approves" in sign_up(hub.url, "rosa", "127.0.0.4").text
