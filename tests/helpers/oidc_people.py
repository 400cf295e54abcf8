"""The people and hub settings the OpenID Connect sign-in tests share (hub tests and browser tests).

Two methods against one provider, as a campus might have them: its own SSO (`generic`, groups
from the `groups` claim) and Google Workspace (`google` preset, named by e-mail, `hd` checked),
each with a client of its own whose redirect URI names the hub's port.
"""

from __future__ import annotations

from tests.components.oidc import Provider, StartProvider

SECRET_ENV = "CAMPUSHUB_TEST_OIDC_SECRET"
CLIENT_SECRET = "oidc-client-secret-1"
CLIENT_IDS = {"campus": "campushub", "google": "campushub-google", "entra": "campushub-entra"}


def person(
    name: str,
    groups: list[str],
    *,
    verified: bool = True,
    hd: str | None = "campus.test",
    email: str | None = None,
    tid: str | None = None,
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
        **({"tid": tid} if tid else {}),
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
# Entra ID: a member of the campus tenant, and a guest from another tenant (same groups, same e-mail domain).
TENANT = "5f0c1a2b-campus-tenant"
KIM = person("kim", ["students"], hd=None, tid=TENANT)
LEO = person("leo", ["students"], hd=None, tid="9e8d7c6b-other-tenant")
PEOPLE = [ALICE, DAVE, ERIN, GRACE, HENRY, IVAN, ASMITH, MALLORY, KIM, LEO]


def callback_url(hub_url: str, method: str) -> str:
    return f"{hub_url}/hub/oidc/{method}/oauth_callback"


def start_provider(oidc_provider: StartProvider, hub_url: str, **options: object) -> Provider:
    clients = [
        {"client_id": client_id, "client_secret": CLIENT_SECRET, "redirect_uris": [callback_url(hub_url, method)]}
        for method, client_id in CLIENT_IDS.items()
    ]
    return oidc_provider(clients, PEOPLE, **options)


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
        "entra": {
            "preset": "azuread",
            "label": "Microsoft",
            "tenant": TENANT,
            "discovery_url": provider.discovery_url,
            "client_id": CLIENT_IDS["entra"],
            "client_secret": f"${{{SECRET_ENV}}}",
            "scopes": ["openid", "profile", "email", "groups"],
            "groups_claim": "groups",
            "allowed_groups": ["students"],
        },
    }
