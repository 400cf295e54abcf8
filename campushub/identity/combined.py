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
from jupyterhub.handlers import LogoutHandler
from jupyterhub.utils import maybe_future
from tornado import web
from traitlets import Bool, Dict, Enum, Integer, List, Unicode, default, import_item

from campushub.identity.accounts import EMAIL_KEY, REMOVED, SUBJECT_KEY, AccountStore
from campushub.identity.admins import entry_allows
from campushub.identity.groups import groups_after_sign_in
from campushub.identity.local import (
    account_name,
    client_address,
    refuse_if_throttled,
    throttled,
)
from campushub.identity.lti_store import LtiStore
from campushub.identity.ratelimit import SignInThrottle
from campushub.identity.reserved import is_reserved
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
    campus_admins = List(
        Dict(),
        help="campus.yaml's `admins`: {name, method (or None: any method whose usernames the campus assigns)}. "
        "Not JupyterHub's admin_users, which would let a listed name past a method's own allow rules.",
    ).tag(config=True)
    reserved_names = List(
        Unicode(), help="sign_in.local.reserved_names: names sign-up refuses besides the ones always reserved."
    ).tag(config=True)
    max_failed_logins = Integer(5, help="Failed sign-ins from one address, any method, before it must wait.").tag(
        config=True
    )
    lockout_seconds = Integer(300, help="The window failures are counted in, in seconds.").tag(config=True)
    trusted_proxies = List(
        Unicode(), help="Reverse proxies in front of the hub whose X-Forwarded-For entries are believed."
    ).tag(config=True)
    courses = Dict(
        help="campus.yaml's courses as {id: {members, groups}}: each member gets the group `course:<id>` at sign-in, "
        "beside the groups their method syncs.",
    ).tag(config=True)
    library_links = Bool(
        False, help="Serve the library's short links, /hub/library/... and /hub/launch (library.enabled)."
    ).tag(config=True)
    chosen_name_methods = List(
        Unicode(),
        help="Methods whose usernames people choose themselves (GitHub): a bare name in `admins` never makes "
        "their users admin.",
    ).tag(config=True)

    @default("any_allow_config")
    def _any_allow_config_default(self) -> bool:
        return True  # each method applies its own allow rules (default deny)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sub_authenticators: dict[str, Authenticator] = {}
        for method in self.methods:
            cls = import_item(method["class"])
            sub = cls(parent=self, **method.get("config", {}))
            if self.manage_groups:
                manage_groups_through(sub)
            self.sub_authenticators[method["id"]] = sub
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
        address = self.client_address(handler)
        found = self.method_for(data)
        if found is None:
            refuse_if_throttled(self.throttle, address)
            self.throttle.failed(address)
            return None
        method, sub = found
        account = account_name(data)
        model = await throttled(
            self.throttle,
            address,
            f"{method}:{account}" if account else None,
            lambda: sub.get_authenticated_user(handler, data),
        )
        if model is None:
            self.log.warning("Failed %s sign-in for %r from %s", method, account, address)
            return None
        model = self.settle(model, method)
        model["campushub_method"] = method
        model.setdefault("groups", None)  # methods without groups leave CampusHub groups as they are
        return model

    _throttle: SignInThrottle | None = None

    @property
    def throttle(self) -> SignInThrottle:
        """One count of failures per address for every method, so spreading guesses over methods gains nothing.

        Its limits are sign_in.local's keys, which apply even when built-in sign-in is off.
        """
        if self._throttle is None:
            self._throttle = SignInThrottle(self.max_failed_logins, self.lockout_seconds)
        return self._throttle

    def client_address(self, handler: web.RequestHandler) -> str:
        """The address failures count against (see local.client_address: forwarded headers are not believed)."""
        return client_address(handler.request, list(self.trusted_proxies))

    def settle(self, model: dict, method: str) -> dict:
        """Decide which account a method's sign-in lands in, and whether it is an admin.

        A provider's unchangeable account id (GitHub's) leads to the account first used with it, so a
        renamed login keeps its account and whoever takes the old login later does not get it.
        With `link_by: email`, an e-mail address the method vouches for leads to the account first
        used with it, whatever username this method gives (a directory's `jdoe` and Google's
        `jane.doe` are one person when both say jane.doe@uni.edu).
        """
        subject = model.get(SUBJECT_KEY)
        if subject is None:
            self.link(model, method)
        else:
            self.settle_subject(model, method, str(subject))
        if self.listed_admin(model["name"], method):
            model["admin"] = True
        if self.manage_groups:
            model["groups"] = self.groups_of(model["name"], method, model.get("groups"))
        return model

    def groups_of(self, name: str, method: str, groups: list[str] | None) -> list[str]:
        """What JupyterHub sets as the person's groups: see identity/groups.py."""
        synced = groups if self.method_syncs_groups(method) else None
        current = self.store.hub_groups(name) if synced is None else []
        return groups_after_sign_in(name, synced, current, self.courses, self.lti_store.roles_of(name))

    _lti_store: LtiStore | None = None

    @property
    def lti_store(self) -> LtiStore:
        """Course roles that LMS launches recorded: kept whichever method the person signs in with later."""
        if self._lti_store is None:
            self._lti_store = LtiStore(self.db_url)
        return self._lti_store

    def method_syncs_groups(self, method: str) -> bool:
        return any(entry["id"] == method and entry.get("syncs_groups") for entry in self.methods)

    def settle_subject(self, model: dict, method: str, subject: str) -> None:
        bound = self.store.name_for_subject(method, subject)
        if bound is not None:
            if bound != model["name"]:
                self.log.info(
                    "%s account %s (now %r) signs in to its account %r", method, subject, model["name"], bound
                )
            model["name"] = bound
            self.claim(bound, method)
            return
        if self.store.subject_of(method, model["name"]) is not None:
            self.log.warning(
                "Refused %r from %s: the name belongs to another %s account", model["name"], method, method
            )
            raise web.HTTPError(
                403,
                f"The username {model['name']!r} belongs to another account of this sign-in service here "
                "(the name was renamed or reused there). Ask an administrator.",
            )
        self.claim(model["name"], method)
        self.store.bind_subject(method, subject, model["name"])

    def listed_admin(self, name: str, method: str) -> bool:
        """Listed in `admins` for this method, or by bare name and through a method whose names the campus assigns."""
        return any(
            entry["name"] == name and entry_allows(entry.get("method"), method, self.chosen_name_methods)
            for entry in self.campus_admins
        )

    def admin_owner(self, name: str) -> str | None:
        """The method an `admins` entry says owns `name`, if one does."""
        for entry in self.campus_admins:
            if entry["name"] == name and entry.get("method"):
                return entry["method"]
        return None

    def signup_refusal(self, name: str) -> str | None:
        """Why sign-up cannot create `name` (reserved, removed, or another method's), or None."""
        admin_names = [entry["name"] for entry in self.campus_admins]
        owner = self.store.owner(name)
        if is_reserved(name, admin_names, self.reserved_names) or owner == REMOVED:
            return "That username is reserved. Choose another one."
        if owner not in (None, "local"):
            return "That username is taken. Choose another one."
        return None

    async def pre_spawn_start(self, user, spawner) -> None:
        """No server for a removed user's name (a course roster or the admin page may still name them)."""
        if self.store.removed(user.name):
            raise web.HTTPError(
                403, f"{user.name!r} was removed; no server starts for the name until an admin releases it."
            )
        await maybe_future(super().pre_spawn_start(user, spawner))

    def is_admin(self, handler, authentication: dict) -> bool | None:
        # Admin rights come from settle() (admins list) and the methods' admin groups only, never admin_users.
        return None

    def link(self, model: dict, method: str) -> None:
        """Pick the account by vouched-for e-mail (`link_by: email`), else by name; claim it for `method`."""
        email = model.get(EMAIL_KEY)
        if self.link_by == "email" and email:
            linked = self.store.linked_account(email)
            if linked is not None:
                if linked != model["name"]:
                    self.log.info("%s sign-in of %r linked to account %r by e-mail", method, model["name"], linked)
                self.claim(linked, method, linked_by_email=True)
                model["name"] = linked
                return
            self.claim(model["name"], method)
            self.store.link_email(email, model["name"])
            return
        self.claim(model["name"], method)

    def claim(self, name: str, method: str, linked_by_email: bool = False) -> None:
        """Refuse a name another method already uses (unless the admin linked methods), a name `admins` gives to
        another method, and a removed user's name."""
        owner_by_config = self.admin_owner(name)
        if owner_by_config is not None and owner_by_config != method:
            self.log.warning(
                "Refused %r from %s: campus.yaml's admins give the name to %s", name, method, owner_by_config
            )
            raise web.HTTPError(
                403,
                f"The username {name!r} is reserved for another sign-in method here. "
                "Sign in the way you did before, or ask an administrator.",
            )
        owner = self.store.assign(name, method) if owner_by_config == method else self.store.claim(name, method)
        if owner == REMOVED:
            self.log.warning("Refused %r from %s: the name belonged to a removed user", name, method)
            raise web.HTTPError(
                403, f"The username {name!r} cannot be used here (it is reserved). Ask an administrator."
            )
        if owner != method and self.link_by != "username" and not linked_by_email:
            self.log.warning("Refused %r from %s: the name belongs to %s", name, method, owner)
            raise web.HTTPError(
                403,
                f"The username {name!r} is already used by another sign-in method here. "
                "Sign in the way you did before, or ask an administrator.",
            )

    async def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        # Only models produced by a method's own pipeline (which applied its allow rules) get here.
        return bool(authentication and authentication.get("campushub_method"))

    def after_logout_url(self, login_url: str) -> str:
        """Where signing out ends: the sign-in page, with Windows sign-in not tried again at once."""
        if any(method.get("kind") == "negotiate" for method in self.methods):
            from campushub.identity.kerberos import after_sign_out

            return after_sign_out(login_url)
        return login_url

    def get_handlers(self, app) -> list:
        handlers = list(super().get_handlers(app))
        if self.library_links:  # a service's links on the hub (JupyterHub's extra_handlers is deprecated)
            from campushub.library.hub_links import link_handlers

            handlers += link_handlers()
        handlers.append(("/logout", CampusLogoutHandler))
        for method in self.methods:
            sub = self.sub_authenticators[method["id"]]
            prefix = method.get("url_prefix", "")
            for path, handler in sub.get_handlers(app):
                if path not in _SHARED_PATHS or prefix:
                    handlers.append((prefix + path, _bound_to(handler, sub)))
        negotiating = [method["id"] for method in self.methods if method.get("kind") == "negotiate"]
        if negotiating:  # Windows sign-in is tried before the sign-in page is shown (identity/kerberos.py)
            from campushub.identity.kerberos import negotiate_first

            handlers = negotiate_first(handlers, self.sub_authenticators[negotiating[0]])
        return handlers


def manage_groups_through(sub: Authenticator) -> None:
    """Groups are managed hub-wide or not at all: a redirect method's callback consults its own flag.

    An OAuth method that syncs no groups then reports none of its own (oauthenticator's documented
    callable form of `auth_state_groups_key`), and `settle` keeps the person's current groups.
    """
    sub.manage_groups = True
    if sub.has_trait("auth_state_groups_key") and sub.auth_state_groups_key is None:
        sub.auth_state_groups_key = _no_groups


def _no_groups(auth_state: dict) -> list[str]:
    return []


class CampusLogoutHandler(LogoutHandler):
    """The hub's /logout: through the single logout of the method the person signed in with (SAML), and never
    straight back in through Windows sign-in."""

    async def get(self) -> None:
        user = self.current_user
        for method in self.authenticator.methods:
            sub = self.authenticator.sub_authenticators[method["id"]]
            holds_session = getattr(sub, "holds_session", None)  # a method with a session of its own to end
            if user is not None and holds_session is not None and await holds_session(user.name):
                return self.redirect(sub.logout_url(self.hub.base_url))
        await super().get()

    async def render_logout_page(self) -> None:
        signed_out = self.authenticator.after_logout_url(self.settings["login_url"])
        if signed_out == self.settings["login_url"]:
            return await super().render_logout_page()
        self.redirect(signed_out, permanent=False)


def _bound_to(handler: type, sub: Authenticator) -> type:
    """A subclass of `handler` whose `self.authenticator` is the method it belongs to."""
    return type(handler.__name__, (handler,), {"authenticator": sub})
