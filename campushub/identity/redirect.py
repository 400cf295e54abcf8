"""What every redirect sign-in method (OpenID providers, GitHub, SAML IdPs) shares on a hub with several methods.

Each lives under a URL of its own (/hub/oidc/<method_id>/...) so that several providers can sit on
one sign-in page, and each hands its finished sign-in to CampusAuthenticator, which decides which
account it lands in (`link_by`).
"""

from __future__ import annotations

from jupyterhub.utils import url_path_join
from oauthenticator.oauth2 import guess_callback_uri
from tornado import web
from tornado.httpclient import HTTPClientError
from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from campushub.identity.accounts import EMAIL_KEY
from campushub.identity.local import refuse_if_throttled
from campushub.identity.ratelimit import SignInThrottle
from campushub.identity.usernames import InvalidUsername, normalize_username

REFUSED_NAME = "Your account cannot be used on this hub. Ask an administrator."
PROVIDER_TROUBLE = (
    "The sign-in service did not accept this hub's request. Try again in a few minutes; "
    "if it keeps happening, tell an administrator (the hub's log says why)."
)


class RedirectMethodMixin(LoggingConfigurable):
    """Mixed in before an OAuthenticator class."""

    method_id = Unicode(help="The method's key under sign_in.<type>; part of its URLs.").tag(config=True)
    url_base = "oidc"  # the method type's part of the URLs: /hub/<url_base>/<method_id>/...

    def scope_prefix(self, base_url: str) -> str:
        return url_path_join(base_url, self.url_base, self.method_id)

    def login_url(self, base_url: str) -> str:
        return url_path_join(self.scope_prefix(base_url), "oauth_login")

    def get_callback_url(self, handler=None) -> str:
        if self.oauth_callback_url or handler is None:
            return super().get_callback_url(handler)
        base = guess_callback_uri(handler.request.protocol, handler.request.host, handler.hub.server.base_url)
        return url_path_join(base.rsplit("/oauth_callback", 1)[0], "oidc", self.method_id, "oauth_callback")

    def campus_name(self, value: str) -> str:
        """The CampusHub username for a provider's name, or a 403 that says the account cannot be used."""
        try:
            return normalize_username(value)
        except InvalidUsername as exc:
            self.log.warning("%s: username refused: %s", self.method_id, exc)
            raise web.HTTPError(403, REFUSED_NAME) from None

    async def fetch(self, req, label="fetching", parse_json=True, **kwargs):
        """A provider that refuses the hub (wrong client secret) or cannot be reached is a clear 503, not a 500."""
        try:
            return await super().fetch(req, label, parse_json, **kwargs)
        except HTTPClientError as exc:
            self.log.error(
                "%s: %s at %s failed with HTTP %s: check client_id, client_secret and the redirect URI registered "
                "with the provider",
                self.method_id,
                label,
                req.url.split("?", 1)[0],
                exc.code,
            )
        except OSError as exc:
            self.log.error("%s: %s at %s failed: %s", self.method_id, label, req.url.split("?", 1)[0], exc)
        raise web.HTTPError(503, PROVIDER_TROUBLE)

    def vouched_email(self, model: dict) -> str | None:
        """An e-mail address the provider vouches for (for `link_by: email`); none unless a method says so."""
        return None

    async def get_authenticated_user(self, handler, data=None) -> dict | None:
        """A refused sign-in counts against the address like a wrong password; a throttled address gets a 429.

        Without this, a guesser stopped at the password forms could go on through a provider's callback.
        """
        throttle = getattr(self.parent, "throttle", None)
        if not isinstance(throttle, SignInThrottle):
            return await self.settled_user(handler, data)
        address = self.parent.client_address(handler)
        refuse_if_throttled(throttle, address)
        try:
            model = await self.settled_user(handler, data)
        except web.HTTPError as exc:
            if 400 <= exc.status_code < 500:
                throttle.failed(address)
            raise
        if model is None:
            self.log.warning("%s: sign-in refused for a visitor from %s", self.method_id, address)
            throttle.failed(address)
        return model

    async def settled_user(self, handler, data=None) -> dict | None:
        """The method's own pipeline (allow and block rules) first; only a sign-in it let through claims a name.

        A refused person must not take a username (or link an address) on the way out.
        """
        model = await super().get_authenticated_user(handler, data)
        if model is None:
            return None
        email = self.vouched_email(model)
        if email:
            model[EMAIL_KEY] = email.strip().lower()
        settle = getattr(self.parent, "settle", None)
        if settle is None:
            return model
        original = model["name"]
        model = settle(model, self.method_id)
        if model["name"] != original and model["name"] in self.blocked_users:
            self.log.warning("%s: linked account %r is blocked", self.method_id, model["name"])
            return None
        return model
