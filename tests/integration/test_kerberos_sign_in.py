"""Windows integrated sign-in against a real MIT Kerberos KDC: a ticket signs in without a form, anyone else gets
the sign-in page, and tickets that must not sign anyone in are refused with that page and a message.

The hub's keytab holds HTTP/localhost@CAMPUS.TEST, so the hub is visited as http://localhost:<port>, the name a
browser builds the service principal from. Groups come from the campus directory (slapd) through the `ldap`
method's search account, as on an Active Directory campus where the same domain issues tickets and holds groups.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.components.kdc import Kdc
from tests.components.slapd import Directory
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers.hub import ADMIN, ADMIN_PASSWORD, RunningHub, new_campus, start_hub
from tests.helpers.hubclient import Student
from tests.helpers.ldap_settings import READER_ENV

pytestmark = pytest.mark.integration

NTLM_TOKEN = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="  # an NTLMSSP negotiate message


@dataclass
class KerberosCampus:
    hub: RunningHub
    kdc: Kdc

    @property
    def url(self) -> str:
        return f"http://localhost:{self.hub.campus.port}"

    def negotiate(self, person: str, next_url: str = "/hub/home") -> tuple[Student, requests.Response]:
        """What a browser holding `person`'s ticket does: /hub/login, the challenge, then the answer with a token."""
        browser = Student(self.url, person.split("@")[0])
        first = browser.session.get(f"{self.url}/hub/login?next={quote(next_url)}", allow_redirects=False, timeout=30)
        assert first.status_code == 302, first.text[-500:]
        challenge_url = requests.compat.urljoin(self.url, first.headers["Location"])
        challenge = browser.session.get(challenge_url, allow_redirects=False, timeout=30)
        assert challenge.status_code == 401 and challenge.headers["WWW-Authenticate"] == "Negotiate"
        self.kdc.kinit(person)
        token = self.kdc.negotiate_token(person)
        answer = browser.session.get(
            challenge_url, headers={"Authorization": f"Negotiate {token}"}, allow_redirects=False, timeout=30
        )
        return browser, answer


@pytest.fixture(scope="module")
def kerberos_campus(tmp_path_factory, kdc: Kdc, slapd: Directory) -> Iterator[KerberosCampus]:
    """One hub for the whole file (a hub takes seconds to start); the throttle test comes last, as it locks out."""
    campus = new_campus(tmp_path_factory.mktemp("kerberos") / "campus")
    campus.update(
        **{
            "sign_in.local": {"max_failed_logins": 20},
            "sign_in.ldap": slapd.sign_in_config(READER_ENV),
            "sign_in.link_by": "username",  # the directory's password form and the tickets are one campus account
            "sign_in.kerberos": {
                "keytab": str(kdc.keytab),
                "service_principal": "HTTP/localhost",
                "groups_from_ldap": "ldap",
                "allowed_groups": ["students", "staff"],
                "admin_groups": ["hub-admins"],
            },
        }
    )
    hub = start_hub(campus, env={READER_ENV: slapd.reader_password})
    try:
        yield KerberosCampus(hub, kdc)
    finally:
        hub.stop()


def test_a_ticket_signs_in_without_a_form_with_the_directory_groups(kerberos_campus, slapd):
    checked = kerberos_campus.hub.campus.cli("check", env={READER_ENV: slapd.reader_password})
    assert (
        f"ok   kerberos kerberos keytab {kerberos_campus.kdc.keytab} (HTTP/localhost@CAMPUS.TEST)" in checked.stdout
    ), checked.stdout

    alice, landed = kerberos_campus.negotiate("alice", next_url="/hub/token")
    assert landed.status_code == 302 and landed.headers["Location"] == "/hub/token", landed.text[-800:]
    assert landed.headers["WWW-Authenticate"].startswith("Negotiate ")  # the hub proves itself back (mutual)
    me = alice.hub_api("GET", "/user").json()
    assert me["name"] == "alice" and not me["admin"]
    assert {"students", "physics"} <= set(me["groups"])  # physics only through students: nested groups count

    dave, landed = kerberos_campus.negotiate("dave")
    assert landed.status_code == 302 and landed.headers["Location"] == "/hub/home"
    assert dave.hub_api("GET", "/user").json()["admin"] is True  # hub-admins in the directory

    # No open redirect: a next URL on another host lands on the hub's own page.
    _, landed = kerberos_campus.negotiate("carol", next_url="https://evil.example/")
    assert landed.status_code == 302 and landed.headers["Location"].startswith("/hub/"), landed.headers


def test_without_a_ticket_the_sign_in_page_shows_every_method_and_signing_out_stays_out(kerberos_campus):
    browser = requests.Session()
    page = browser.get(f"{kerberos_campus.url}/hub/login?next=/hub/home", timeout=30)
    assert page.status_code == 401 and page.headers["WWW-Authenticate"] == "Negotiate"  # never Basic: no prompt
    assert page.url.startswith(f"{kerberos_campus.url}/hub/kerberos/kerberos/login?next=")
    assert 'id="sign-in-ldap"' in page.text and 'id="sign-in-local"' in page.text  # the other methods' forms
    assert "Windows sign-in" in page.text  # the button that tries again

    # The page's password form works from there: it posts to the hub's own /hub/login.
    admin = Student(kerberos_campus.url, ADMIN)
    signed_in = admin.sign_in(ADMIN_PASSWORD)
    assert signed_in.status_code == 200 and admin.hub_api("GET", "/user").json()["name"] == ADMIN

    # Signing out ends on the page, not on a new Windows sign-in with the ticket still there.
    alice, landed = kerberos_campus.negotiate("alice")
    assert landed.status_code == 302
    out = alice.session.get(f"{kerberos_campus.url}/hub/logout", allow_redirects=False, timeout=30)
    assert out.headers["Location"].endswith("/hub/login?negotiate=no")
    after = alice.session.get(f"{kerberos_campus.url}/hub/login?negotiate=no", allow_redirects=False, timeout=30)
    assert after.status_code == 200 and 'id="sign-in-ldap"' in after.text
    assert alice.hub_api("GET", "/user").status_code == 403


def test_chromium_with_the_host_allowlisted_signs_in_with_the_ticket_and_no_form(kerberos_campus, playwright_driver):
    """Debian's chromium, as a domain-joined browser with the hub on its integrated-authentication allowlist."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    env = kerberos_campus.kdc.kinit("bob")
    args = [*CHROMIUM_ARGS, "--auth-server-allowlist=localhost", "--auth-negotiate-delegate-allowlist=localhost",
            "--disable-auth-negotiate-cname-lookup"]  # fmt: skip
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=args, env={**os.environ, **env}
    )
    try:
        page = browser.new_page()
        home = f"{kerberos_campus.url}/hub/home"
        page.goto(home)
        for _ in range(3):
            if page.url == home:
                break
            # A fresh chromium loads its GSSAPI library at the first challenge and shows the page meanwhile
            # (on a loaded machine, sometimes at the second too); the page's Windows sign-in button is what a
            # person then clicks.
            assert page.locator("#sign-in-kerberos a").inner_text() == "Windows sign-in (this computer's account)"
            page.locator("#sign-in-kerberos a").click()
            page.wait_for_load_state()
        assert page.url == home, (page.url, page.locator("body").inner_text()[:600])
        assert page.locator("input[type=password]").count() == 0  # signed in, no form filled in
        assert "bob" in page.content()
    finally:
        browser.close()
    assert kerberos_campus.hub.wait_for_output("bob@CAMPUS.TEST signs in as 'bob'")


def test_tickets_that_must_not_sign_anyone_in_get_the_page_with_a_message(kerberos_campus):
    refusals = [
        ("olga@OTHER.TEST", "may not use this hub"),  # a trusted realm that is not allowed
        ("alice/admin", "may not use this hub"),  # a principal with an instance is not a person's
        ("erin", "may not use this hub"),  # in the directory, in no allowed group
    ]
    for person, said in refusals:
        browser, answer = kerberos_campus.negotiate(person)
        assert answer.status_code == 403 and said in answer.text, (person, answer.text[-600:])
        assert 'id="sign-in-ldap"' in answer.text and "WWW-Authenticate" not in answer.headers
        assert browser.hub_api("GET", "/user").status_code == 403
    assert kerberos_campus.hub.wait_for_output("olga@OTHER.TEST is of realm OTHER.TEST, not one of the allowed realms")

    url = f"{kerberos_campus.url}/hub/kerberos/kerberos/login"
    kerberos_campus.kdc.kinit("bob")
    token = kerberos_campus.kdc.negotiate_token("bob")
    first = requests.get(url, headers={"Authorization": f"Negotiate {token}"}, allow_redirects=False, timeout=30)
    assert first.status_code == 302
    for bad, said in ((token, "could not be verified"), ("Z2FyYmFnZQ==", "could not be verified"),
                      (NTLM_TOKEN, "offered NTLM")):  # fmt: skip
        answer = requests.get(url, headers={"Authorization": f"Negotiate {bad}"}, allow_redirects=False, timeout=30)
        assert answer.status_code == 403 and said in answer.text, answer.text[-600:]
    assert kerberos_campus.hub.wait_for_output("Request is a replay")  # the same token twice

    # Failed tokens count like wrong passwords: past the limit, the address waits.
    for _ in range(20):
        answer = requests.get(url, headers={"Authorization": "Negotiate Z2FyYmFnZQ=="}, timeout=30)
        if answer.status_code == 429:
            break
    assert answer.status_code == 429 and "Too many failed sign-ins" in answer.text
