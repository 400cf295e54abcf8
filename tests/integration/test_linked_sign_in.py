"""`link_by`: one person, two sign-in methods (a real slapd and a real OpenID Provider side by side)."""

from __future__ import annotations

import pytest

from tests.helpers.ldap_settings import READER_ENV, ldap_config
from tests.helpers.oidc_people import ASMITH, CLIENT_SECRET, MALLORY, SECRET_ENV, sign_in_settings, start_provider
from tests.helpers.sign_in import ldap_student, me, sso_sign_in

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def secrets_in_environment(monkeypatch, slapd):
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    monkeypatch.setenv(READER_ENV, slapd.reader_password)


@pytest.fixture
def linked_hub(campus, hub_factory, slapd, oidc_provider):
    def start(link_by: str):
        provider = start_provider(oidc_provider, campus.url)
        campus.update(
            **{
                "sign_in.ldap": ldap_config(slapd),
                "sign_in.oidc": {"campus": sign_in_settings(provider)["campus"]},
                "sign_in.link_by": link_by,
            }
        )
        return hub_factory()

    return start


def test_the_same_verified_email_lands_in_the_same_account(linked_hub, slapd):
    hub = linked_hub("email")
    assert me(ldap_student(hub, slapd, "alice"))["name"] == "alice"  # directory mail: alice@campus.test
    student, _ = sso_sign_in(hub, "campus", ASMITH)  # SSO username asmith, verified alice@campus.test
    linked = me(student)
    assert linked["name"] == "alice"
    assert "students" in linked["groups"]
    assert "linked to account 'alice' by e-mail" in hub.output()


def test_an_unverified_email_links_nothing(linked_hub, slapd):
    hub = linked_hub("email")
    ldap_student(hub, slapd, "alice")
    student, _ = sso_sign_in(hub, "campus", MALLORY)  # claims alice@campus.test, provider has not verified it
    assert me(student)["name"] == "mallory"


def test_without_link_by_email_the_accounts_stay_apart(linked_hub, slapd):
    hub = linked_hub("none")
    ldap_student(hub, slapd, "alice")
    student, _ = sso_sign_in(hub, "campus", ASMITH)
    assert me(student)["name"] == "asmith"
