"""OpenID Connect: usernames from claims, presets, and what reaches JupyterHub's config."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from campushub.config.loader import parse_config
from campushub.errors import UserError
from campushub.hub.layout import Layout
from campushub.hub.settings import hub_settings
from campushub.identity.oidc import discovery_url_for, id_token_claims, nonce_for, state_id_of
from campushub.identity.usernames import InvalidUsername, campus_username


@pytest.mark.parametrize(
    ("claim", "domains", "expected"),
    [("alice", [], "alice"), ("Alice@Uni.edu", ["uni.edu"], "alice"), (" bob@uni.edu ", ["UNI.EDU"], "bob")],
)
def test_campus_username(claim: str, domains: list[str], expected: str) -> None:
    assert campus_username(claim, domains) == expected


@pytest.mark.parametrize(
    ("claim", "domains"),
    [("alice@other.edu", ["uni.edu"]), ("alice@uni.edu", []), ("a*b", []), ("alice@uni.edu@uni.edu", ["uni.edu"])],
)
def test_campus_username_refuses(claim: str, domains: list[str]) -> None:
    with pytest.raises(InvalidUsername):
        campus_username(claim, domains)


def test_discovery_urls_of_presets() -> None:
    assert discovery_url_for("google", None, None).startswith("https://accounts.google.com/")
    assert "/contoso-id/v2.0/" in discovery_url_for("azuread", None, "contoso-id")
    assert discovery_url_for("google", "http://127.0.0.1:1/x", None) == "http://127.0.0.1:1/x"


def config(text: str):
    return parse_config(text, "campus.yaml")


def campus_methods(text: str) -> list[dict]:
    """The method entries CampusAuthenticator gets for a campus.yaml."""
    layout = Layout(Path("/srv/campus"), Path("/opt/env"), "/x/chp", running_as_root=False)
    return hub_settings(parse_config(text, "campus.yaml"), layout)["CampusAuthenticator"]["methods"]


GOOGLE = """
sign_in:
  oidc:
    google:
      preset: google
      hosted_domain: [Uni.edu]
      client_id: id
      client_secret: not-shown-anywhere
      username_claim: email
      username_domains: [uni.edu]
"""


def test_google_preset_requires_the_hd_claim(tmp_path: Path) -> None:
    (method,) = campus_methods(GOOGLE)
    assert method["kind"] == "redirect" and method["url_prefix"] == "/oidc/google"
    assert method["config"]["required_claims"] == {"hd": ["uni.edu"]}
    assert method["config"]["allow_all"] is False  # default deny


def test_the_sign_in_page_never_sees_client_secrets(tmp_path: Path) -> None:
    layout = Layout(tmp_path, Path("/opt/env"), "/x/chp", running_as_root=False)
    settings = hub_settings(config(GOOGLE), layout)
    assert "not-shown-anywhere" not in repr(settings["JupyterHub"]["template_vars"])
    assert settings["JupyterHub"]["template_vars"]["sign_in_methods"] == [
        {"id": "google", "label": "Campus single sign-on", "kind": "redirect", "login_path": "oidc/google/oauth_login"}
    ]


def test_azuread_preset_checks_the_tenant_and_reads_the_id_token() -> None:
    text = "sign_in:\n  oidc:\n    entra: {preset: azuread, tenant: t-1, client_id: a, client_secret: b}\n"
    (method,) = campus_methods(text)
    assert method["config"]["required_claims"] == {"tid": ["t-1"]}
    assert method["config"]["userdata_from_id_token"] is True


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sign_in:\n  oidc:\n    sso: {client_id: a, client_secret: b}\n", "needs `discovery_url`"),
        ("sign_in:\n  oidc:\n    entra: {preset: azuread, client_id: a, client_secret: b}\n", "needs `tenant`"),
        ("sign_in:\n  oidc:\n    ldap: {preset: google, client_id: a, client_secret: b}\n", "cannot be ldap"),
        ("sign_in:\n  oidc:\n    Bad_Name: {preset: google, client_id: a, client_secret: b}\n", "oidc"),
        ("sign_in:\n  oidc:\n    g: {preset: google, client_id: a, client_secret: b, scopes: [email]}\n", "openid"),
        (
            "sign_in:\n  oidc:\n    g: {preset: google, client_id: a, client_secret: b, allowed_groups: [x]}\n",
            "groups_claim",
        ),
    ],
)
def test_bad_provider_settings(text: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment.replace("`", ".")):
        config(text)


def test_username_claim_defaults_follow_the_preset() -> None:
    google = "sign_in:\n  oidc:\n    g: {preset: google, client_id: a, client_secret: b}\n"
    generic = "sign_in:\n  oidc:\n    s: {discovery_url: 'https://sso.uni.edu/x', client_id: a, client_secret: b}\n"
    assert campus_methods(google)[0]["config"]["username_claim"] == "email"
    assert campus_methods(generic)[0]["config"]["username_claim"] == "preferred_username"


def test_nonce_is_bound_to_the_state_and_the_hub_secret() -> None:
    assert nonce_for(b"secret", "state-1") == nonce_for(b"secret", "state-1")
    assert nonce_for(b"secret", "state-1") != nonce_for(b"secret", "state-2")
    assert nonce_for(b"secret", "state-1") != nonce_for(b"other", "state-1")


def test_state_id_of_tolerates_garbage() -> None:
    assert state_id_of("eyJzdGF0ZV9pZCI6ICJhYmMifQ==") == "abc"  # {"state_id": "abc"}
    assert state_id_of(None) is None
    assert state_id_of("!!not base64!!") is None
    assert state_id_of("WzFd") is None  # [1]


SECRET = "client-secret-of-the-hub-" * 2


def id_token(key: object = SECRET, algorithm: str = "HS256", **claims: object) -> str:
    now = int(time.time())
    base = {"iss": "https://sso.uni.edu", "aud": "campushub", "sub": "s", "iat": now, "exp": now + 60}
    return jwt.encode({**base, **claims}, key, algorithm=algorithm)


def test_id_token_claims_checks_issuer_audience_and_expiry() -> None:
    assert id_token_claims(id_token(nonce="n"), "campushub", "https://sso.uni.edu", SECRET)["nonce"] == "n"
    with pytest.raises(jwt.InvalidIssuerError):
        id_token_claims(id_token(), "campushub", "https://evil.example", SECRET)
    with pytest.raises(jwt.InvalidAudienceError):
        id_token_claims(id_token(aud="another-app"), "campushub", "https://sso.uni.edu", SECRET)
    with pytest.raises(jwt.ExpiredSignatureError):
        id_token_claims(id_token(exp=int(time.time()) - 600), "campushub", "https://sso.uni.edu", SECRET)


def test_id_token_signed_by_the_providers_key_is_accepted_and_by_another_refused() -> None:
    provider_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    genuine = id_token(provider_key, "RS256", nonce="n")
    assert id_token_claims(genuine, "campushub", "https://sso.uni.edu", provider_key.public_key())["nonce"] == "n"
    with pytest.raises(jwt.InvalidSignatureError):
        id_token_claims(id_token(forger_key, "RS256"), "campushub", "https://sso.uni.edu", provider_key.public_key())


def test_an_id_token_with_another_secret_is_refused() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        id_token_claims(id_token("someone-else's-secret-" * 2), "campushub", "https://sso.uni.edu", SECRET)


def test_unsigned_id_tokens_are_refused() -> None:
    unsigned = jwt.encode({"iss": "https://sso.uni.edu", "aud": "campushub", "exp": 2**40}, None, algorithm="none")
    with pytest.raises(jwt.InvalidAlgorithmError, match="'none' are not accepted"):
        id_token_claims(unsigned, "campushub", "https://sso.uni.edu", SECRET)


def test_an_id_token_without_issue_time_is_refused() -> None:
    token = jwt.encode({"iss": "https://sso.uni.edu", "aud": "campushub", "exp": 2**40}, SECRET, algorithm="HS256")
    with pytest.raises(jwt.MissingRequiredClaimError):
        id_token_claims(token, "campushub", "https://sso.uni.edu", SECRET)


def test_azure_multi_tenant_issuer_takes_the_tokens_tenant() -> None:
    issuer = "https://login.microsoftonline.com/{tenantid}/v2.0"
    token = id_token(iss="https://login.microsoftonline.com/t-1/v2.0", tid="t-1")
    assert id_token_claims(token, "campushub", issuer, SECRET)["tid"] == "t-1"
