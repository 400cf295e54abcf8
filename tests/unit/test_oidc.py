"""OpenID Connect: usernames from claims, presets, and what reaches JupyterHub's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from campushub.config.loader import parse_config
from campushub.errors import UserError
from campushub.hub.settings import Layout, hub_settings, public_methods, sign_in_methods
from campushub.identity.oidc import campus_username, discovery_url_for
from campushub.identity.usernames import InvalidUsername


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
    (method,) = sign_in_methods(config(GOOGLE))
    assert method["kind"] == "redirect" and method["url_prefix"] == "/oidc/google"
    assert method["config"]["required_claims"] == {"hd": ["uni.edu"]}
    assert method["config"]["allow_all"] is False  # default deny


def test_the_sign_in_page_never_sees_client_secrets(tmp_path: Path) -> None:
    layout = Layout(tmp_path, Path("/opt/env"), "/x/chp", running_as_root=False)
    settings = hub_settings(config(GOOGLE), layout)
    assert "not-shown-anywhere" not in repr(settings["JupyterHub"]["template_vars"])
    assert public_methods(sign_in_methods(config(GOOGLE))) == [
        {"id": "google", "label": "Campus single sign-on", "kind": "redirect"}
    ]


def test_azuread_preset_checks_the_tenant_and_reads_the_id_token() -> None:
    text = "sign_in:\n  oidc:\n    entra: {preset: azuread, tenant: t-1, client_id: a, client_secret: b}\n"
    (method,) = sign_in_methods(config(text))
    assert method["config"]["required_claims"] == {"tid": ["t-1"]}
    assert method["config"]["userdata_from_id_token"] is True


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sign_in:\n  oidc:\n    sso: {client_id: a, client_secret: b}\n", "needs `discovery_url`"),
        ("sign_in:\n  oidc:\n    entra: {preset: azuread, client_id: a, client_secret: b}\n", "needs `tenant`"),
        ("sign_in:\n  oidc:\n    ldap: {preset: google, client_id: a, client_secret: b}\n", "cannot be ldap"),
        ("sign_in:\n  oidc:\n    Bad_Name: {preset: google, client_id: a, client_secret: b}\n", "oidc"),
    ],
)
def test_bad_provider_settings(text: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment.replace("`", ".")):
        config(text)
