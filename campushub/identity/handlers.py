"""Pages the `local` sign-in method adds to the hub: sign-up and account approval."""

from __future__ import annotations

from jupyterhub.handlers import BaseHandler
from tornado import web

from campushub.identity.accounts import ACTIVE, PENDING, AccountExists
from campushub.identity.usernames import InvalidUsername, normalize_username


class SignupHandler(BaseHandler):
    """`/hub/signup`: ask for an account, as far as the campus's sign-up mode allows."""

    @property
    def mode(self) -> str:
        return self.authenticator.signup_mode

    async def get(self) -> None:
        if self.mode == "closed":
            raise web.HTTPError(404, "Sign-up is closed here. Ask your administrator for an account.")
        self.finish(await self.render_template("signup.html", signup_mode=self.mode))

    async def post(self) -> None:
        if self.mode == "closed":
            raise web.HTTPError(404, "Sign-up is closed here. Ask your administrator for an account.")
        raw_name = self.get_body_argument("username", "")
        password = self.get_body_argument("password", "")
        confirm = self.get_body_argument("password_confirm", "")
        code = self.get_body_argument("invite_code", "")
        error, message = self._problem(raw_name, password, confirm), ""
        if not error:
            name = normalize_username(raw_name)
            error, message = self._create(name, password, code)
        status = 400 if error else 200
        self.set_status(status)
        self.finish(
            await self.render_template(
                "signup.html", signup_mode=self.mode, error=error, message=message, username=raw_name
            )
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
        if store.owner(name) not in (None, "local"):
            return "That username is taken. Choose another one.", ""
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
            store.approve(name)
            self.log.info("Account %r approved by %s", name, self.current_user.name)
        self.redirect(self.hub.base_url + "accounts")
