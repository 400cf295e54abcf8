"""Sign-in through a real OpenID Provider (npm oidc-provider): the authorization-code flow through the hub.

The provider and the hub run on loopback; a requests.Session plays the browser, cookies and all.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.components.oidc import Provider, login_through
from tests.helpers.hubclient import Student
from tests.helpers.oidc_people import (
    ALICE,
    CLIENT_SECRET,
    DAVE,
    ERIN,
    GRACE,
    HENRY,
    IVAN,
    KIM,
    LEO,
    SECRET_ENV,
    callback_url,
    sign_in_settings,
    start_provider,
)
from tests.helpers.sign_in import login_url, me, refused, sso_sign_in, with_query

pytestmark = pytest.mark.integration

SIGN_IN_AGAIN = "The sign-in could not be completed"


@pytest.fixture(autouse=True)
def client_secret_in_environment(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)


@pytest.fixture
def provider(campus, oidc_provider) -> Provider:
    return start_provider(oidc_provider, campus.url)


@pytest.fixture
def oidc_hub(campus, hub_factory, provider):
    """Built-in accounts, the campus SSO, Google and Entra ID on one sign-in page."""
    campus.update(**{"sign_in.local": {}, "sign_in.oidc": sign_in_settings(provider)})
    return hub_factory()


def test_login_page_has_a_button_per_provider(oidc_hub):
    page = requests.get(f"{oidc_hub.url}/hub/login", timeout=10).text
    assert 'id="sign-in-local"' in page
    assert "/hub/oidc/campus/oauth_login" in page and "Campus SSO" in page
    assert "/hub/oidc/google/oauth_login" in page and "Google" in page
    assert CLIENT_SECRET not in page


def test_code_flow_signs_in_with_groups_synced(oidc_hub):
    student, response = sso_sign_in(oidc_hub, "campus", ALICE)
    assert response.status_code == 200 and urlsplit(response.url).path == "/hub/home", response.url
    alice = me(student)
    assert alice["name"] == "alice" and alice["admin"] is False
    assert {"students", "physics"} <= set(alice["groups"])


def test_admin_group_makes_an_admin(oidc_hub):
    student, _ = sso_sign_in(oidc_hub, "campus", DAVE)
    dave = me(student)
    assert dave["admin"] is True and "hub-admins" in dave["groups"]


def test_person_outside_the_allowed_groups_is_refused(oidc_hub):
    student, response = sso_sign_in(oidc_hub, "campus", ERIN)
    assert refused(response, 403, "not currently authorized to use this hub")
    assert me(student) is None


def test_google_workspace_account_is_named_by_its_email(oidc_hub):
    student, _ = sso_sign_in(oidc_hub, "google", GRACE)
    assert me(student)["name"] == "grace"


def test_another_workspace_is_refused_by_its_hd_claim(oidc_hub):
    # henry@campus.test has the right e-mail suffix; only `hd` says the account belongs to other.test.
    student, response = sso_sign_in(oidc_hub, "google", HENRY)
    assert refused(response, 403, "not currently authorized to use this hub")
    assert me(student) is None


def test_unverified_email_is_refused(oidc_hub):
    student, response = sso_sign_in(oidc_hub, "google", IVAN)
    assert refused(response, 403, "not verified")
    assert me(student) is None


def test_entra_id_member_of_the_tenant_signs_in_from_the_id_token(oidc_hub):
    student, _ = sso_sign_in(oidc_hub, "entra", KIM)
    kim = me(student)
    assert kim["name"] == "kim" and "students" in kim["groups"]


def test_entra_id_account_of_another_tenant_is_refused(oidc_hub):
    student, response = sso_sign_in(oidc_hub, "entra", LEO)
    assert refused(response, 403, "not currently authorized to use this hub")
    assert me(student) is None


def test_tampered_state_is_refused(oidc_hub):
    student = Student(oidc_hub.url, "alice")
    callback = callback_url(oidc_hub.url, "campus")
    redirect = login_through(
        student.session, login_url(oidc_hub, "campus"), ALICE["username"], ALICE["password"], stop_at=callback
    )
    location = redirect.headers["Location"]
    tampered = student.session.get(with_query(location, state="eyJzdGF0ZV9pZCI6ICJ4In0="), allow_redirects=False)
    assert refused(tampered, 400, "OAuth state mismatch")
    assert me(student) is None


def test_callback_in_another_browser_is_refused(oidc_hub):
    """Login CSRF: a callback URL made in the attacker's browser does not sign in the victim's."""
    attacker = Student(oidc_hub.url, "erin")
    callback = callback_url(oidc_hub.url, "campus")
    redirect = login_through(
        attacker.session, login_url(oidc_hub, "campus"), ALICE["username"], ALICE["password"], stop_at=callback
    )
    victim = Student(oidc_hub.url, "victim")
    response = victim.session.get(redirect.headers["Location"], allow_redirects=False)
    assert refused(response, 400, "OAuth state missing")
    assert me(victim) is None


def test_authorization_request_carries_a_nonce_and_a_tampered_one_is_refused(oidc_hub):
    student = Student(oidc_hub.url, "alice")
    to_provider = student.session.get(login_url(oidc_hub, "campus"), allow_redirects=False)
    authorize = to_provider.headers["Location"]
    nonce = parse_qs(urlsplit(authorize).query)["nonce"][0]
    assert len(nonce) >= 32

    response = login_through(
        student.session, with_query(authorize, nonce="chosen-by-someone-else"), ALICE["username"], ALICE["password"]
    )
    assert refused(response, 403, SIGN_IN_AGAIN)
    assert me(student) is None
    assert "nonce does not match" in oidc_hub.output()


def test_next_cannot_leave_the_hub(oidc_hub):
    student = Student(oidc_hub.url, "alice")
    start = login_url(oidc_hub, "campus", next_url="https://evil.example/steal")
    response = login_through(student.session, start, ALICE["username"], ALICE["password"])
    assert urlsplit(response.url).hostname == "127.0.0.1"
    assert all("evil.example" not in r.headers.get("Location", "") for r in response.history)
    assert me(student)["name"] == "alice"


def test_a_name_owned_by_built_in_accounts_is_not_taken_over(oidc_hub, campus):
    campus.add_user("alice", "local-alice-password-1")
    student, response = sso_sign_in(oidc_hub, "campus", ALICE)
    assert refused(response, 403, "already used by another sign-in method")
    assert me(student) is None


def test_secrets_stay_out_of_the_log(oidc_hub):
    sso_sign_in(oidc_hub, "campus", ALICE)
    assert CLIENT_SECRET not in oidc_hub.output()


def test_check_shows_the_discovered_issuer(campus, provider):
    campus.update(**{"sign_in.oidc": sign_in_settings(provider)})
    result = campus.cli("check")
    assert f"ok   oidc campus discovery (issuer {provider.issuer}, " in result.stdout, result.stdout
    assert CLIENT_SECRET not in result.stdout


def test_buttons_keep_where_the_person_was_going(oidc_hub):
    page = requests.get(f"{oidc_hub.url}/hub/login", params={"next": "/hub/home?a=1&b=2"}, timeout=10).text
    assert "/hub/oidc/campus/oauth_login?next=%2Fhub%2Fhome%3Fa%3D1%26b%3D2" in page  # JupyterHub escaped it


def test_a_refused_sign_in_takes_no_username(oidc_hub, campus):
    """Erin, outside the allowed groups, is refused; her name stays free for whoever may have it."""
    sso_sign_in(oidc_hub, "campus", ERIN)
    campus.add_user("erin", "local-erin-password-1")
    local = Student(oidc_hub.url, "erin")
    local.sign_in("local-erin-password-1")
    assert me(local)["name"] == "erin"


def test_a_wrong_client_secret_is_a_clear_503(campus, hub_factory, provider, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "not-the-registered-secret")
    campus.update(**{"sign_in.oidc": {"campus": sign_in_settings(provider)["campus"]}})
    hub = hub_factory()
    student, response = sso_sign_in(hub, "campus", ALICE)
    assert refused(response, 503, "did not accept this hub")
    assert me(student) is None
    assert "check client_id, client_secret" in hub.output()
    assert "not-the-registered-secret" not in hub.output()


def test_check_warns_when_google_would_let_every_account_in(campus, provider):
    google = {**sign_in_settings(provider)["google"], "hosted_domain": []}
    campus.update(**{"sign_in.oidc": {"google": google}})
    result = campus.cli("check")
    assert result.returncode == 1
    assert "FAIL oidc google allow rules: `allow_all` without `hosted_domain` lets every Google account in" in (
        result.stdout
    )


def test_an_id_token_not_signed_by_the_provider_is_refused(campus, hub_factory, oidc_provider):
    """Claims, nonce and kid all right, the signature made with a key the provider never published."""
    forger = start_provider(oidc_provider, campus.url, forge_id_token_signatures=True)
    campus.update(**{"sign_in.oidc": {"campus": sign_in_settings(forger)["campus"]}})
    hub = hub_factory()
    student, response = sso_sign_in(hub, "campus", ALICE)
    assert refused(response, 403, SIGN_IN_AGAIN)
    assert me(student) is None
    assert "ID token refused: Signature verification failed" in hub.output()
