"""The `local` sign-in method: built-in accounts with hashed passwords.

A JupyterHub Authenticator, so the hub's login form, cookies, admin flag and
REST API work unchanged; what it adds is the account store and sign-up modes.
Failed sign-ins are throttled by CampusAuthenticator, for every password method
alike (see `throttled`); this method throttles itself only when used alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from jupyterhub.auth import Authenticator
from tornado import web
from tornado.httputil import HTTPServerRequest
from traitlets import Enum, Integer, List, Unicode, default

from campushub.identity.accounts import ACTIVE, AccountStore
from campushub.identity.ratelimit import SignInThrottle, SlidingWindowLimiter, retry_message
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


def account_name(data: dict) -> str | None:
    """The username a sign-in form names, as an account key; None for a name no account can have."""
    try:
        return normalize_username(str(data.get("username", "")))
    except InvalidUsername:
        return None


Model = TypeVar("Model")


def refuse_if_throttled(throttle: SignInThrottle, address: str) -> None:
    """A 429 that says when to come back, for an address with too many recent failures."""
    wait = throttle.retry_after(address)
    if wait > 0:
        raise web.HTTPError(429, retry_message(wait))


async def throttled(
    throttle: SignInThrottle, address: str, account: str | None, attempt: Callable[[], Awaitable[Model | None]]
) -> Model | None:
    """Run one password check under the throttle: a hard stop per address, only a slowdown per account.

    The slowdown is awaited, not slept, so the hub keeps serving everyone else meanwhile, and it comes
    before the check, so the right password still gets in (later) while the account is under attack.
    """
    refuse_if_throttled(throttle, address)
    delay = throttle.delay(account)
    if delay > 0:
        await asyncio.sleep(delay)
    result = await attempt()
    if result is None:
        throttle.failed(address, account)
    elif account is not None:
        throttle.succeeded(account)
    return result


class LocalAccountsAuthenticator(CampusUsernamesMixin, Authenticator):
    """Username and password checked against CampusHub's own account table."""

    db_url = Unicode(help="Database holding the accounts (the hub database).").tag(config=True)
    signup_mode = Enum(
        ["closed", "approval", "invite", "open"],
        default_value="closed",
        help="Who may create an account from the sign-up page.",
    ).tag(config=True)
    min_password_length = Integer(10, help="Shortest password accepted at sign-up.").tag(config=True)
    max_failed_logins = Integer(
        5, help="Failed sign-ins (any password or single sign-on method) from one address before it must wait."
    ).tag(config=True)
    lockout_seconds = Integer(
        300, help="The window failures are counted in, and the longest an address waits, in seconds."
    ).tag(config=True)
    trusted_proxies = List(
        Unicode(), help="Reverse proxies in front of the hub whose X-Forwarded-For entries are believed."
    ).tag(config=True)
    signup_per_hour = Integer(10, help="Sign-up requests accepted from one address per hour.").tag(config=True)
    max_pending = Integer(
        200, help="In `approval` mode, requests waiting for an administrator before sign-up pauses."
    ).tag(config=True)

    @default("any_allow_config")
    def _any_allow_config_default(self) -> bool:
        # Access is decided by the account table (check_allowed), which JupyterHub cannot see.
        return True

    _store: AccountStore | None = None
    _throttle: SignInThrottle | None = None
    _signup_limiter: SlidingWindowLimiter | None = None

    @property
    def store(self) -> AccountStore:
        if self._store is None:
            self._store = AccountStore(self.db_url)
        return self._store

    @property
    def parent_throttles(self) -> bool:
        """Under CampusAuthenticator, which throttles every password method with one count per address."""
        return isinstance(getattr(self.parent, "throttle", None), SignInThrottle)

    @property
    def throttle(self) -> SignInThrottle:
        """The hub's shared throttle, or this method's own when it is used alone."""
        if self.parent_throttles:
            return self.parent.throttle
        if self._throttle is None:
            self._throttle = SignInThrottle(self.max_failed_logins, self.lockout_seconds)
        return self._throttle

    @property
    def signup_limiter(self) -> SlidingWindowLimiter:
        """Sign-up requests per address and hour: each one may cost a password hash and a database row."""
        if self._signup_limiter is None:
            self._signup_limiter = SlidingWindowLimiter(self.signup_per_hour, 3600)
        return self._signup_limiter

    def client_address(self, handler: web.RequestHandler) -> str:
        return client_address(handler.request, self.trusted_proxies)

    async def authenticate(self, handler: web.RequestHandler, data: dict) -> dict | None:
        if self.parent_throttles:
            return await self.check_password(data)
        address = self.client_address(handler)
        return await throttled(self.throttle, address, account_name(data), lambda: self.check_password(data))

    async def check_password(self, data: dict) -> dict | None:
        """The account's model if the password is right; a 403 for one still waiting for approval."""
        name = account_name(data)
        password = str(data.get("password", ""))
        if name is None or not password:
            return None
        account = await asyncio.get_running_loop().run_in_executor(None, self.store.verify, name, password)
        if account is None:
            self.log.warning("Failed sign-in for %r", name)
            return None
        if account.status != ACTIVE:
            raise web.HTTPError(403, "Your account is waiting for an administrator's approval.")
        return {"name": name}

    def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        account = self.store.get(username)
        return account is not None and account.status == ACTIVE

    def get_handlers(self, app) -> list:
        from campushub.identity.handlers import AccountsAdminHandler, SignupHandler

        return [*super().get_handlers(app), ("/signup", SignupHandler), ("/accounts", AccountsAdminHandler)]
