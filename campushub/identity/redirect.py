"""What every redirect sign-in method (OpenID providers, GitHub) shares on a hub with several methods.

Each lives under a URL of its own (/hub/oidc/<method_id>/...) so that several providers can sit on
one sign-in page, and each hands its finished sign-in to CampusAuthenticator, which decides which
account it lands in (`link_by`).
"""

from __future__ import annotations

from jupyterhub.utils import url_path_join
from oauthenticator.oauth2 import guess_callback_uri
from tornado import web
from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from campushub.identity.accounts import EMAIL_KEY
from campushub.identity.usernames import InvalidUsername, normalize_username

REFUSED_NAME = "Your account cannot be used on this hub. Ask an administrator."


class RedirectMethodMixin(LoggingConfigurable):
    """Mixed in before an OAuthenticator class."""

    method_id = Unicode(help="The method's key under sign_in.oidc; part of its URLs.").tag(config=True)

    def scope_prefix(self, base_url: str) -> str:
        return url_path_join(base_url, "oidc", self.method_id)

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

    def settled(self, model: dict | None, vouched_email: str | None) -> dict | None:
        """The model with the account CampusAuthenticator chose for it (it may refuse with a 403)."""
        if model is None:
            return None
        if vouched_email:
            model[EMAIL_KEY] = vouched_email.strip().lower()
        model["name"] = self.normalize_username(model["name"])
        settle = getattr(self.parent, "settle", None)
        return settle(model, self.method_id) if settle is not None else model
