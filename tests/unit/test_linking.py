"""Which account a sign-in lands in when several methods are configured (`link_by`)."""

from __future__ import annotations

import pytest
from tornado import web

from campushub.identity.accounts import EMAIL_KEY
from campushub.identity.combined import CampusAuthenticator


def authenticator(db_url: str, link_by: str) -> CampusAuthenticator:
    return CampusAuthenticator(methods=[], link_by=link_by, db_url=db_url)


def model(name: str, email: str | None = None) -> dict:
    return {"name": name, **({EMAIL_KEY: email} if email else {})}


def test_by_email_the_first_account_used_with_an_address_wins(db_url: str) -> None:
    auth = authenticator(db_url, "email")
    assert auth.settle(model("jdoe", "jane@uni.edu"), "ldap")["name"] == "jdoe"
    assert auth.settle(model("jane.doe", "jane@uni.edu"), "google")["name"] == "jdoe"
    assert auth.settle(model("jdoe", "jane@uni.edu"), "ldap")["name"] == "jdoe"


def test_by_email_a_name_of_another_method_without_the_address_is_refused(db_url: str) -> None:
    auth = authenticator(db_url, "email")
    auth.settle(model("jdoe", "jane@uni.edu"), "ldap")
    with pytest.raises(web.HTTPError) as refused:
        auth.settle(model("jdoe", "john@elsewhere.org"), "google")
    assert refused.value.status_code == 403
    with pytest.raises(web.HTTPError):
        auth.settle(model("jdoe"), "google")  # no address vouched for: only the name, which is taken


def test_a_refused_sign_in_links_no_address(db_url: str) -> None:
    auth = authenticator(db_url, "email")
    auth.settle(model("jdoe"), "ldap")
    with pytest.raises(web.HTTPError):
        auth.settle(model("jdoe", "mallory@evil.example"), "google")
    assert auth.store.linked_account("mallory@evil.example") is None


@pytest.mark.parametrize("link_by", ["none", "username"])
def test_other_modes_ignore_addresses(db_url: str, link_by: str) -> None:
    auth = authenticator(db_url, link_by)
    auth.settle(model("jdoe", "jane@uni.edu"), "ldap")
    assert auth.settle(model("jane.doe", "jane@uni.edu"), "google")["name"] == "jane.doe"
    assert auth.store.linked_account("jane@uni.edu") is None
