"""Pages the `local` sign-in method adds to the hub: sign-up and account approval."""

from __future__ import annotations

import asyncio

from jupyterhub.handlers import BaseHandler
from tornado import web

from campushub.identity.accounts import ACTIVE, PENDING, REMOVED, AccountExists, AccountStore
from campushub.identity.ratelimit import retry_message
from campushub.identity.usernames import InvalidUsername, normalize_username


class SignupHandler(BaseHandler):
    """`/hub/signup`: ask for an account, as far as the campus's sign-up mode allows."""

    @property
    def mode(self) -> str:
        return self.authenticator.signup_mode

    async def get(self) -> None:
        if self.mode == "closed":
            raise web.HTTPError(404, "Sign-up is closed here. Ask your administrator for an account.")
        paused = await self._paused()
        if paused:
            self.set_status(503)
        self.finish(await self.render_template("signup.html", signup_mode=self.mode, error=paused, paused=bool(paused)))

    async def post(self) -> None:
        if self.mode == "closed":
            raise web.HTTPError(404, "Sign-up is closed here. Ask your administrator for an account.")
        raw_name = self.get_body_argument("username", "")
        status, error, message = await self._answer(raw_name)
        self.set_status(status)
        self.finish(
            await self.render_template(
                "signup.html",
                signup_mode=self.mode,
                error=error,
                message=message,
                username=raw_name,
                paused=status == 503,
            )
        )

    async def _answer(self, raw_name: str) -> tuple[int, str, str]:
        """(HTTP status, error, message) for one sign-up request; cheap refusals come before the password hash."""
        refusal = self._over_rate_limit()
        if refusal:
            return 429, refusal, ""
        paused = await self._paused()
        if paused:
            return 503, paused, ""
        password = self.get_body_argument("password", "")
        code = self.get_body_argument("invite_code", "")
        error = self._problem(raw_name, password, self.get_body_argument("password_confirm", ""))
        if error:
            return 400, error, ""
        # Hashing the password is slow on purpose: on the event loop it would stall every page of the hub.
        loop = asyncio.get_running_loop()
        error, message = await loop.run_in_executor(None, self._create, normalize_username(raw_name), password, code)
        return (400 if error else 200), error, message

    def _over_rate_limit(self) -> str:
        """Count this request against its address; a refusal (what to do about it) once the hour's share is used."""
        address = self.authenticator.client_address(self)
        limiter = self.authenticator.signup_limiter
        wait = limiter.retry_after(address)
        if wait > 0:
            self.log.warning("Sign-up refused for %s: over %d requests in an hour", address, limiter.max_events)
            return retry_message(wait, "sign-up requests")
        limiter.record(address)
        return ""

    async def _paused(self) -> str:
        """Why sign-up is paused (too many requests await approval), or "" when it is not."""
        if self.mode != "approval":
            return ""
        store = self.authenticator.store
        waiting = await asyncio.get_running_loop().run_in_executor(None, store.list, PENDING)
        if len(waiting) < self.authenticator.max_pending:
            return ""
        self.log.warning("Sign-up paused: %d requests await approval (max_pending)", len(waiting))
        return (
            "Sign-up is paused until an administrator has handled the account requests already waiting. "
            "Please try again later."
        )

    def _problem(self, raw_name: str, password: str, confirm: str) -> str:
        try:
            normalize_username(raw_name)
        except InvalidUsername as exc:
            return str(exc).capitalize() + "."
        minimum = self.authenticator.min_password_length
        if len(password) < minimum:
            return f"Choose a password of at least {minimum} characters."
        if password != confirm:
            return "The two passwords differ."
        return ""

    def _create(self, name: str, password: str, code: str) -> tuple[str, str]:
        store = self.authenticator.store
        refusal = self.authenticator.parent.signup_refusal(name)  # the CampusAuthenticator holding every method
        if refusal:
            self.log.info("Sign-up as %r refused: %s", name, refusal)
            return refusal, ""
        if self.mode == "invite" and not store.redeem_invite(code):
            return "That invite code is not valid (unknown, used up or expired).", ""
        status = PENDING if self.mode == "approval" else ACTIVE
        try:
            store.create(name, password, status=status)
        except AccountExists:
            return "That username is taken. Choose another one.", ""
        self.log.info("Account %r created by sign-up (%s)", name, status)
        if status == PENDING:
            return "", "Your account has been requested. You can sign in once an administrator approves it."
        return "", "Your account is ready. You can sign in now."


class AccountsAdminHandler(BaseHandler):
    """`/hub/accounts`: admins see built-in accounts and approve pending ones."""

    def _require_admin(self) -> None:
        user = self.current_user
        if user is None:
            raise web.HTTPError(403)
        if not user.admin:
            raise web.HTTPError(403, "Only administrators can manage accounts.")

    @web.authenticated
    async def get(self) -> None:
        self._require_admin()
        accounts = self.authenticator.store.list()
        self.finish(await self.render_template("accounts.html", accounts=accounts))

    @web.authenticated
    async def post(self) -> None:
        self._require_admin()
        name = self.get_body_argument("approve", "")
        store = self.authenticator.store
        if store.get(name) is not None:
            refusal = approval_refusal(store, name)
            if refusal:
                raise web.HTTPError(409, refusal)
            store.approve(name)
            self.log.info("Account %r approved by %s", name, self.current_user.name)
        self.redirect(self.hub.base_url + "accounts")


def approval_refusal(store: AccountStore, name: str) -> str | None:
    """A request does not hold its name while it waits: approving it must not take a name someone else now has."""
    owner = store.owner(name)
    if owner == REMOVED:
        return f"{name!r} is a removed user's name, reserved until `campushub users release {name}`."
    if owner not in (None, "local"):
        return (
            f"{name!r} now belongs to someone who signed in with {owner}. Refuse this request "
            f"(`campushub users refuse {name}`) and ask the person to choose another name."
        )
    return None
