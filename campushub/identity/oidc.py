"""OpenID Connect sign-in (generic, Azure AD / Entra ID, Google) on oauthenticator's GenericOAuthenticator.

oauthenticator does the OAuth dance (state cookie, PKCE, code exchange,
allowed/admin groups, group sync). What it does not do, and campuses need:
read the provider's discovery document, turn `alice@uni.edu` into the campus
username `alice` (refusing other domains), insist on a verified e-mail when the
name comes from the e-mail, check Google's `hd` claim or Azure's tenant, and
live under a URL of its own so several providers share one hub.
"""

from __future__ import annotations

import json
import urllib.request
from functools import cached_property

from jupyterhub.utils import url_path_join
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import guess_callback_uri
from tornado import web
from traitlets import Dict, List, Unicode, default

from campushub.identity.usernames import InvalidUsername, normalize_username

DISCOVERY = {
    "google": "https://accounts.google.com/.well-known/openid-configuration",
    "azuread": "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration",
}


def discovery_url_for(preset: str, discovery_url: str | None, tenant: str | None) -> str:
    """An explicit discovery URL wins (also how tests point a preset at a local provider)."""
    if discovery_url:
        return discovery_url
    return DISCOVERY[preset].format(tenant=tenant or "common")


def fetch_discovery(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def campus_username(value: str, domains: list[str]) -> str:
    """`Alice@Uni.edu` -> `alice` when uni.edu is one of `domains`; a name without @ is used as it is."""
    local, at, domain = value.strip().partition("@")
    if at:
        if domain.lower() not in [d.lower() for d in domains]:
            raise InvalidUsername(f"{value!r} is not from {', '.join(domains) or 'an allowed domain'}")
        value = local
    return normalize_username(value)


class CampusOIDCAuthenticator(GenericOAuthenticator):
    """One OpenID provider, mounted at /hub/oidc/<method_id>/."""

    method_id = Unicode(help="The method's key under sign_in.oidc; part of its URLs.").tag(config=True)
    discovery_url = Unicode(help="The provider's /.well-known/openid-configuration.").tag(config=True)
    username_domains = List(Unicode(), help="E-mail domains stripped from usernames; others refused.").tag(config=True)
    required_claims = Dict(help="Claim -> accepted values (Google `hd`, Azure `tid`).").tag(config=True)

    @cached_property
    def discovered(self) -> dict:
        try:
            return fetch_discovery(self.discovery_url)
        except (OSError, ValueError) as exc:
            self.log.error("OIDC discovery at %s failed: %s", self.discovery_url, exc)
            raise web.HTTPError(503, "The sign-in service cannot be reached. Try again in a few minutes.") from None

    @default("authorize_url")
    def _authorize_url_default(self) -> str:
        return self.discovered["authorization_endpoint"]

    @default("token_url")
    def _token_url_default(self) -> str:
        return self.discovered["token_endpoint"]

    @default("userdata_url")
    def _userdata_url_default(self) -> str:
        return self.discovered.get("userinfo_endpoint", "")

    def scope_prefix(self, base_url: str) -> str:
        return url_path_join(base_url, "oidc", self.method_id)

    def login_url(self, base_url: str) -> str:
        return url_path_join(self.scope_prefix(base_url), "oauth_login")

    def get_callback_url(self, handler=None) -> str:
        if self.oauth_callback_url or handler is None:
            return super().get_callback_url(handler)
        base = guess_callback_uri(handler.request.protocol, handler.request.host, handler.hub.server.base_url)
        return url_path_join(base.rsplit("/oauth_callback", 1)[0], "oidc", self.method_id, "oauth_callback")

    def user_info_to_username(self, user_info: dict) -> str:
        value = str(super().user_info_to_username(user_info))
        if (
            "@" in value
            and user_info.get("email", "").lower() == value.lower()
            and user_info.get("email_verified") is not True
        ):
            raise web.HTTPError(403, "Your e-mail address is not verified with your sign-in provider.")
        try:
            return campus_username(value, list(self.username_domains))
        except InvalidUsername as exc:
            self.log.warning("OIDC username refused: %s", exc)
            raise web.HTTPError(403, "Your account cannot be used on this hub. Ask an administrator.") from None

    def check_blocked_users(self, username: str, auth_model: dict | None) -> bool:
        user_info = (auth_model or {}).get("auth_state", {}).get(self.user_auth_state_key, {})
        for claim, accepted in self.required_claims.items():
            if user_info.get(claim) not in accepted:
                self.log.warning("Blocked %s: claim %s=%r not in %r", username, claim, user_info.get(claim), accepted)
                return False
        return super().check_blocked_users(username, auth_model)

    async def authenticate(self, handler, data=None):
        model = await super().authenticate(handler, data)
        claim = getattr(self.parent, "claim", None)
        if model is not None and claim is not None:
            claim(self.normalize_username(model["name"]), self.method_id)
        return model
