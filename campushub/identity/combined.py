"""Several sign-in methods behind one JupyterHub Authenticator.

JupyterHub takes one Authenticator. This one holds an instance of each
method's own Authenticator (configured as if it were alone) and hands each
login to the method the sign-in form named. Handlers a method adds (sign-up,
later OAuth callbacks) are wrapped so that they see their own method, the way
jupyterhub-multiauthenticator does it; unlike that package, usernames stay
plain (`alice`, not `ldap:alice`) and a name belongs to the first method that
used it unless the admin links methods (`link_by: username` or `email`).
"""

from __future__ import annotations

from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import Dict, Enum, List, Unicode, default, import_item

from campushub.identity.accounts import EMAIL_KEY, AccountStore
from campushub.identity.usernames import CampusUsernamesMixin

# Paths every Authenticator registers; JupyterHub's own handlers for them serve all methods.
_SHARED_PATHS = {"/login", "/logout"}


class CampusAuthenticator(CampusUsernamesMixin, Authenticator):
    """Dispatches each sign-in to the method chosen on the sign-in page."""

    methods = List(
        Dict(),
        help="Sign-in methods, in page order: {id, class, label, kind ('password' or 'redirect'), "
        "url_prefix (for redirect methods' handlers), config (keyword arguments)}.",
    ).tag(config=True)
    link_by = Enum(
        ["none", "username", "email"],
        default_value="none",
        help="`none`: a username belongs to the first method that used it. `username`: same name, same person. "
        "`email`: same vouched-for e-mail address, same account.",
    ).tag(config=True)
    db_url = Unicode(help="The hub database, where the owner method of each username is kept.").tag(config=True)

    @default("any_allow_config")
    def _any_allow_config_default(self) -> bool:
        return True  # each method applies its own allow rules (default deny)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sub_authenticators: dict[str, Authenticator] = {}
        for method in self.methods:
            cls = import_item(method["class"])
            self.sub_authenticators[method["id"]] = cls(parent=self, **method.get("config", {}))
        self._store: AccountStore | None = None

    @property
    def store(self) -> AccountStore:
        if self._store is None:
            self._store = AccountStore(self.db_url)
        return self._store

    def method_for(self, data: dict) -> tuple[str, Authenticator] | None:
        """The password method the sign-in form named (redirect methods never post the form)."""
        password_methods = [method["id"] for method in self.methods if method.get("kind") == "password"]
        chosen = str(data.get("method") or (password_methods[0] if password_methods else ""))
        if chosen not in password_methods:
            return None
        return chosen, self.sub_authenticators[chosen]

    async def authenticate(self, handler: web.RequestHandler, data: dict) -> dict | None:
        found = self.method_for(data)
        if found is None:
            return None
        method, sub = found
        model = await sub.get_authenticated_user(handler, data)
        if model is None:
            return None
        model = self.settle(model, method)
        model["campushub_method"] = method
        model.setdefault("groups", None)  # methods without groups leave CampusHub groups as they are
        return model

    def settle(self, model: dict, method: str) -> dict:
        """Decide which account a method's sign-in lands in; refuse one that belongs to another method.

        With `link_by: email`, an e-mail address the method vouches for leads to the account first
        used with it, whatever username this method gives (a directory's `jdoe` and Google's
        `jane.doe` are one person when both say jane.doe@uni.edu).
        """
        email = model.get(EMAIL_KEY)
        if self.link_by == "email" and email:
            linked = self.store.linked_account(email)
            if linked is not None:
                if linked != model["name"]:
                    self.log.info("%s sign-in of %r linked to account %r by e-mail", method, model["name"], linked)
                self.store.claim(linked, method)
                model["name"] = linked
                return model
            self.claim(model["name"], method)
            self.store.link_email(email, model["name"])
            return model
        self.claim(model["name"], method)
        return model

    def claim(self, name: str, method: str) -> None:
        """Refuse a name another method already uses, unless the admin linked methods by username."""
        owner = self.store.claim(name, method)
        if owner != method and self.link_by != "username":
            self.log.warning("Refused %r from %s: the name belongs to %s", name, method, owner)
            raise web.HTTPError(
                403,
                f"The username {name!r} is already used by another sign-in method here. "
                "Sign in the way you did before, or ask an administrator.",
            )

    async def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        # Only models produced by a method's own pipeline (which applied its allow rules) get here.
        return bool(authentication and authentication.get("campushub_method"))

    def get_handlers(self, app) -> list:
        handlers = list(super().get_handlers(app))
        for method in self.methods:
            sub = self.sub_authenticators[method["id"]]
            prefix = method.get("url_prefix", "")
            for path, handler in sub.get_handlers(app):
                if path not in _SHARED_PATHS or prefix:
                    handlers.append((prefix + path, _bound_to(handler, sub)))
        return handlers


def _bound_to(handler: type, sub: Authenticator) -> type:
    """A subclass of `handler` whose `self.authenticator` is the method it belongs to."""
    return type(handler.__name__, (handler,), {"authenticator": sub})
