"""The people and hub settings the OpenID Connect sign-in tests share (hub tests and browser tests).

Two methods against one provider, as a campus might have them: its own SSO (`generic`, groups
from the `groups` claim) and Google Workspace (`google` preset, named by e-mail, `hd` checked),
each with a client of its own whose redirect URI names the hub's port.
"""

from __future__ import annotations

from tests.components.oidc import Provider, StartProvider

SECRET_ENV = "CAMPUSHUB_TEST_OIDC_SECRET"
CLIENT_SECRET = "oidc-client-secret-1"
CLIENT_IDS = {"campus": "campushub", "google": "campushub-google"}


def person(
    name: str, groups: list[str], *, verified: bool = True, hd: str | None = "campus.test", email: str | None = None
) -> dict:
    return {
        "sub": f"{name}-sub",
        "username": name,
        "password": f"{name}-sso-password-1",
        "email": email or f"{name}@campus.test",
        "email_verified": verified,
        "name": name.title(),
        "groups": groups,
        **({"hd": hd} if hd else {}),
    }


ALICE = person("alice", ["students", "physics"])
DAVE = person("dave", ["staff", "hub-admins"])
ERIN = person("erin", ["guests"])  # in no allowed group
GRACE = person("grace", [])  # Google: right domain, verified
HENRY = person("henry", [], hd="other.test")  # Google: an account of another Workspace
IVAN = person("ivan", [], verified=False)  # Google: e-mail not verified
# The directory's alice (mail alice@campus.test) under another SSO username, and someone merely claiming her address.
ASMITH = person("asmith", ["students"], email="alice@campus.test")
MALLORY = person("mallory", ["students"], email="alice@campus.test", verified=False)
PEOPLE = [ALICE, DAVE, ERIN, GRACE, HENRY, IVAN, ASMITH, MALLORY]


def callback_url(hub_url: str, method: str) -> str:
    return f"{hub_url}/hub/oidc/{method}/oauth_callback"


def start_provider(oidc_provider: StartProvider, hub_url: str) -> Provider:
    clients = [
        {"client_id": client_id, "client_secret": CLIENT_SECRET, "redirect_uris": [callback_url(hub_url, method)]}
        for method, client_id in CLIENT_IDS.items()
    ]
    return oidc_provider(clients, PEOPLE)


def sign_in_settings(provider: Provider) -> dict:
    """campus.yaml's `sign_in.oidc`, as an admin would write it (the secret from the environment)."""
    return {
        "campus": {
            "label": "Campus SSO",
            "discovery_url": provider.discovery_url,
            "client_id": CLIENT_IDS["campus"],
            "client_secret": f"${{{SECRET_ENV}}}",
            "scopes": ["openid", "profile", "email", "groups"],
            "groups_claim": "groups",
            "allowed_groups": ["students", "staff"],
            "admin_groups": ["hub-admins"],
        },
        "google": {
            "preset": "google",
            "label": "Google",
            "discovery_url": provider.discovery_url,  # the preset's own URL, pointed at the test provider
            "hosted_domain": ["campus.test"],
            "client_id": CLIENT_IDS["google"],
            "client_secret": f"${{{SECRET_ENV}}}",
            "username_domains": ["campus.test"],
            "allow_all": True,
        },
    }
