"""OpenID Connect sign-in (generic, Azure AD / Entra ID, Google) on oauthenticator's GenericOAuthenticator.

oauthenticator does the OAuth dance (state cookie, PKCE, code exchange,
allowed/admin groups, group sync). What it does not do, and campuses need:
read the provider's discovery document, send a nonce and check the ID token
that comes back (signature against the provider's published keys, issuer,
audience, expiry, nonce), turn `alice@uni.edu` into the campus username
`alice` (refusing other domains), insist on a verified e-mail when the name
comes from the e-mail, check Google's `hd` claim or Azure's tenant, and live
under a URL of its own so several providers share one hub.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import urllib.request
from functools import cached_property

import jwt
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthLoginHandler, _deserialize_state
from tornado import web
from traitlets import Dict, List, Unicode, default

from campushub.identity.redirect import REFUSED_NAME, RedirectMethodMixin
from campushub.identity.usernames import InvalidUsername, campus_username

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


SIGN_IN_AGAIN = "The sign-in could not be completed. Go back to the sign-in page and try again."


def nonce_for(secret: bytes, state_id: str) -> str:
    """The nonce of one authorization request, derived from its state: no cookie more to keep.

    The state id lives in the browser's state cookie and the hub's cookie secret never leaves the
    hub, so an ID token with this nonce was issued for this browser's own request.
    """
    return hmac.new(secret, b"campushub-oidc-nonce:" + state_id.encode(), hashlib.sha256).hexdigest()


def state_id_of(serialized_state: str | None) -> str | None:
    state = _deserialize_state(serialized_state) if serialized_state else None
    return state.get("state_id") if isinstance(state, dict) else None


class NonceLoginHandler(OAuthLoginHandler):
    """oauthenticator's login redirect, plus the OpenID Connect nonce it does not send."""

    def authorize_redirect(self, *args, extra_params=None, **kwargs):
        params = dict(extra_params or {})
        state_id = state_id_of(params.get("state"))
        if state_id:
            params["nonce"] = nonce_for(self.settings["cookie_secret"], state_id)
        return super().authorize_redirect(*args, extra_params=params, **kwargs)


# Asymmetric algorithms are checked against the provider's published keys (jwks_uri); HMAC ones against the
# client secret, as OpenID Connect Core 10.1 says. `none` is never accepted.
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SECRET_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})


def id_token_algorithm(id_token: str) -> str:
    """The token's `alg`, if it is one CampusHub checks; InvalidAlgorithmError otherwise (`none` included)."""
    algorithm = str(jwt.get_unverified_header(id_token).get("alg", ""))
    if algorithm not in PUBLIC_KEY_ALGORITHMS | SECRET_ALGORITHMS:
        raise jwt.InvalidAlgorithmError(f"ID tokens signed with {algorithm or 'no algorithm'!r} are not accepted")
    return algorithm


def id_token_claims(id_token: str, client_id: str, issuer: str, key: object) -> dict:
    """The ID token's claims once its signature (by `key`), issuer, audience and expiry check out."""
    algorithm = id_token_algorithm(id_token)
    unverified = jwt.decode(id_token, options={"verify_signature": False})
    expected_issuer = issuer.replace("{tenantid}", str(unverified.get("tid", "")))  # Azure's multi-tenant form
    return jwt.decode(
        id_token,
        key=key,
        algorithms=[algorithm],
        audience=client_id,
        issuer=expected_issuer,
        options={"require": ["exp", "iat"], "verify_aud": True, "verify_iss": True, "verify_exp": True},
    )


class CampusOIDCAuthenticator(RedirectMethodMixin, GenericOAuthenticator):
    """One OpenID provider, mounted at /hub/oidc/<method_id>/."""

    login_handler = NonceLoginHandler

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

    @cached_property
    def provider_keys(self) -> jwt.PyJWKClient:
        """The provider's signing keys, fetched when first needed, kept an hour, fetched again for an unknown `kid`
        (key rollover)."""
        return jwt.PyJWKClient(self.discovered["jwks_uri"], cache_jwk_set=True, lifespan=3600, timeout=10)

    async def signing_key(self, id_token: str) -> object:
        if id_token_algorithm(id_token) in SECRET_ALGORITHMS:
            return self.client_secret
        try:
            found = await asyncio.to_thread(self.provider_keys.get_signing_key_from_jwt, id_token)
        except jwt.PyJWKClientConnectionError as exc:
            self.log.error("OIDC %s: the provider's keys could not be fetched: %s", self.method_id, exc)
            raise web.HTTPError(503, "The sign-in service cannot be reached. Try again in a few minutes.") from None
        return found.key

    async def get_token_info(self, handler, params):
        token_info = await super().get_token_info(handler, params)
        if handler is not None:  # a sign-in; refreshes (handler None) carry no nonce
            await self.check_id_token(token_info.get("id_token"), handler)
        return token_info

    async def check_id_token(self, id_token: str | None, handler) -> None:
        """Refuse a sign-in whose ID token is missing, not signed by the provider, not for us, expired, or for
        another request."""
        if not id_token:
            self.log.warning("OIDC %s: the token response has no id_token (is `openid` in scopes?)", self.method_id)
            raise web.HTTPError(403, SIGN_IN_AGAIN)
        try:
            key = await self.signing_key(id_token)
            claims = id_token_claims(id_token, self.client_id, self.discovered["issuer"], key)
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            self.log.warning("OIDC %s: ID token refused: %s", self.method_id, exc)
            raise web.HTTPError(403, SIGN_IN_AGAIN) from None
        state_id = state_id_of(handler.get_state_cookie())
        expected = nonce_for(handler.settings["cookie_secret"], state_id or "")
        if not state_id or not hmac.compare_digest(str(claims.get("nonce", "")), expected):
            self.log.warning("OIDC %s: ID token nonce does not match this sign-in", self.method_id)
            raise web.HTTPError(403, SIGN_IN_AGAIN)

    def user_info_to_username(self, user_info: dict) -> str:
        value = user_info.get(self.username_claim)
        if not value:
            # Claim names only: the values are someone's personal data.
            self.log.error(
                "OIDC %s: no %r claim from the provider (it sent %s); request the scope that carries it",
                self.method_id,
                self.username_claim,
                ", ".join(sorted(user_info)),
            )
            raise web.HTTPError(403, REFUSED_NAME)
        value = str(value)
        if self.username_claim == "email" and user_info.get("email_verified") is not True:
            # The name is the e-mail address; Azure's UPN (preferred_username) is the tenant's, not an e-mail.
            raise web.HTTPError(403, "Your e-mail address is not verified with your sign-in provider.")
        try:
            return campus_username(value, list(self.username_domains))
        except InvalidUsername as exc:
            self.log.warning("OIDC username refused: %s", exc)
            raise web.HTTPError(403, REFUSED_NAME) from None

    def check_blocked_users(self, username: str, auth_model: dict | None) -> bool:
        user_info = (auth_model or {}).get("auth_state", {}).get(self.user_auth_state_key, {})
        for claim, accepted in self.required_claims.items():
            if user_info.get(claim) not in accepted:
                self.log.warning("Blocked %s: claim %s=%r not in %r", username, claim, user_info.get(claim), accepted)
                return False
        return super().check_blocked_users(username, auth_model)

    def vouched_email(self, model: dict) -> str | None:
        user_info = model.get("auth_state", {}).get(self.user_auth_state_key, {})
        return user_info.get("email") if user_info.get("email_verified") is True else None
