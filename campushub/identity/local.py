"""The `local` sign-in method: built-in accounts with hashed passwords.

A JupyterHub Authenticator, so the hub's login form, cookies, admin flag and
REST API work unchanged; what it adds is the account store, sign-up modes and
a lockout after repeated failures.
"""

from __future__ import annotations

import asyncio
import math

from jupyterhub.auth import Authenticator
from tornado import web
from tornado.httputil import HTTPServerRequest
from traitlets import Enum, Integer, List, Unicode, default

from campushub.identity.accounts import ACTIVE, AccountStore
from campushub.identity.ratelimit import FailedLoginLimiter
from campushub.identity.usernames import CampusUsernamesMixin, InvalidUsername, normalize_username


def client_address(request: HTTPServerRequest, trusted_proxies: list[str]) -> str:
    """The visitor's address for the lockout, from headers a visitor cannot forge.

    Tornado lets any client's X-Real-Ip header set `remote_ip`, which would let a
    guesser pick a new address for every try. The internal proxy always appends
    the address that connected to it to X-Forwarded-For, so the right-most entry
    not belonging to a trusted reverse proxy is the real one.
    """
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return hops[0] if hops else request.remote_ip


class LocalAccountsAuthenticator(CampusUsernamesMixin, Authenticator):
    """Username and password checked against CampusHub's own account table."""

    db_url = Unicode(help="Database holding the accounts (the hub database).").tag(config=True)
    signup_mode = Enum(
        ["closed", "approval", "invite", "open"],
        default_value="closed",
        help="Who may create an account from the sign-up page.",
    ).tag(config=True)
    min_password_length = Integer(10, help="Shortest password accepted at sign-up.").tag(config=True)
    max_failed_logins = Integer(5, help="Failed sign-ins per username or address before a lockout.").tag(config=True)
    lockout_seconds = Integer(300, help="Length of a lockout, in seconds.").tag(config=True)
    trusted_proxies = List(
        Unicode(), help="Reverse proxies in front of the hub whose X-Forwarded-For entries are believed."
    ).tag(config=True)

    @default("any_allow_config")
    def _any_allow_config_default(self) -> bool:
        # Access is decided by the account table (check_allowed), which JupyterHub cannot see.
        return True

    _store: AccountStore | None = None
    _limiter: FailedLoginLimiter | None = None

    @property
    def store(self) -> AccountStore:
        if self._store is None:
            self._store = AccountStore(self.db_url)
        return self._store

    @property
    def limiter(self) -> FailedLoginLimiter:
        if self._limiter is None:
            self._limiter = FailedLoginLimiter(self.max_failed_logins, self.lockout_seconds)
        return self._limiter

    async def authenticate(self, handler: web.RequestHandler, data: dict) -> dict | None:
        raw_name = str(data.get("username", ""))
        password = str(data.get("password", ""))
        address = f"ip:{client_address(handler.request, self.trusted_proxies)}"
        try:
            name = normalize_username(raw_name)
        except InvalidUsername:
            name = None
        keys = (address, f"user:{name}") if name else (address,)
        wait = self.limiter.retry_after(*keys)
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            raise web.HTTPError(
                429,
                f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            )
        if name is None or not password:
            self.limiter.record_failure(*keys)
            return None
        account = await asyncio.get_running_loop().run_in_executor(None, self.store.verify, name, password)
        if account is None:
            self.limiter.record_failure(*keys)
            self.log.warning("Failed sign-in for %r from %s", name, address.removeprefix("ip:"))
            return None
        self.limiter.record_success(f"user:{name}")
        if account.status != ACTIVE:
            raise web.HTTPError(403, "Your account is waiting for an administrator's approval.")
        return {"name": name}

    def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        account = self.store.get(username)
        return account is not None and account.status == ACTIVE

    def get_handlers(self, app) -> list:
        from campushub.identity.handlers import AccountsAdminHandler, SignupHandler

        return [*super().get_handlers(app), ("/signup", SignupHandler), ("/accounts", AccountsAdminHandler)]
