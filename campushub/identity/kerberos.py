"""Windows integrated sign-in: HTTP Negotiate (SPNEGO, RFC 4559) against the hub's keytab, on pykerberos.

How a visit goes, so that nobody meets a dead end or a browser password prompt:

- GET /hub/login (no one signed in, not just signed out) sends the browser on to /hub/kerberos/<name>/login.
- There, without an `Authorization: Negotiate` header, the answer is 401 with `WWW-Authenticate: Negotiate`
  (never Basic, which would make the browser ask for a password) and, as its body, the ordinary sign-in page
  with every other method. A browser that holds a ticket and trusts the host asks again with a token; any
  other browser just shows the body.
- With a token, the ticket is checked against the keytab; the client principal becomes the username
  (kerberos_names.username_for), groups come from the directory if `groups_from_ldap` says so, and the
  sign-in is settled by CampusAuthenticator like any redirect method's (throttle, `admins`, `link_by`).
  A token that fails, or a person who may not sign in, gets the sign-in page again with a message
  (403, never a 401 that would make the browser try the same ticket over and over).
- GET /hub/logout ends with /hub/login?negotiate=no, so that signing out is not undone at once by the
  ticket still on the computer.

pykerberos reads the keytab named by KRB5_KTNAME, a process-wide setting, so a hub has one keytab (and
one Kerberos method); its service principal and realms come from campus.yaml.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from pathlib import Path
from typing import Any, ClassVar

from jupyterhub._xsrf_utils import _set_xsrf_cookie
from jupyterhub.auth import Authenticator
from jupyterhub.handlers.login import LoginHandler
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httputil import url_concat
from traitlets import Bool, Dict, List, Unicode

from campushub.identity.kerberos_names import (
    KeytabError,
    PrincipalRefused,
    matching,
    parse_principal,
    read_keytab,
    username_for,
)
from campushub.identity.redirect import RedirectMethodMixin

SKIP_ARGUMENT = "negotiate"  # /hub/login?negotiate=no: show the page, try no ticket (after signing out)
NOT_VERIFIED = (
    "Windows sign-in did not work: your browser's Kerberos ticket could not be verified. "
    "Sign in another way below; if it keeps happening, tell an administrator (the hub's log says why)."
)
NTLM_OFFERED = (
    "Windows sign-in did not work: your computer offered NTLM instead of a Kerberos ticket (it has no ticket for "
    "this hub's address). Sign in another way below, or ask your IT support about Kerberos for this address."
)
NOT_ALLOWED = "Your account may not use this hub. Ask an administrator if you think it should."
DIRECTORY_DOWN = "The campus directory cannot be reached to look up your groups. Try again in a few minutes."


class CampusKerberosAuthenticator(RedirectMethodMixin, Authenticator):
    """Checks SPNEGO tokens with the keytab and turns the client principal into a CampusHub person."""

    url_base = "kerberos"

    login_service = Unicode("Windows sign-in", help="The button's text on the sign-in page.").tag(config=True)
    keytab = Unicode(help="The keytab with the hub's service key (set as KRB5_KTNAME for the GSSAPI library).").tag(
        config=True
    )
    service_principal = Unicode(
        "", help="`HTTP/host[@REALM]` tokens must be meant for; empty: any principal of the keytab."
    ).tag(config=True)
    allowed_realms = List(
        Unicode(), help="Realms whose people may sign in; empty: the service principal's realm(s) in the keytab."
    ).tag(config=True)
    directory = Dict(
        help="The `ldap` method's settings (as campus.yaml gives them) that groups are read from; empty: no groups."
    ).tag(config=True)
    allowed_groups = List(Unicode(), help="Directory groups whose members may sign in.").tag(config=True)
    admin_groups = List(Unicode(), help="Directory groups whose members are admins.").tag(config=True)
    allow_all = Bool(False, help="Everyone of the allowed realms may sign in.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        os.environ["KRB5_KTNAME"] = f"FILE:{self.keytab}"
        self._realms: list[str] | None = None

    def login_url(self, base_url: str) -> str:
        """The hub's own sign-in page: the forms rendered on this method's pages post there."""
        return url_path_join(base_url, "login")

    def negotiate_url(self, base_url: str) -> str:
        return url_path_join(self.scope_prefix(base_url), "login")

    def get_handlers(self, app: Any) -> list:
        return [("/login", NegotiateHandler)]

    @property
    def acceptor_name(self) -> str:
        """`HTTP@host` for pykerberos (a host-based name matches the host's key of any realm in the keytab)."""
        return parse_principal(self.service_principal).service_host if self.service_principal else ""

    def realms(self) -> list[str]:
        """`allowed_realms`, else the realms the keytab holds the service principal's key for."""
        if self.allowed_realms:
            return list(self.allowed_realms)
        if self._realms is None:
            try:
                principals = read_keytab(Path(self.keytab))
            except KeytabError as exc:
                self.log.error("%s: %s", self.method_id, exc)
                return []
            if self.service_principal:
                principals = matching(principals, parse_principal(self.service_principal))
            self._realms = sorted({principal.realm for principal in principals})
        return self._realms

    def accept(self, token: str) -> tuple[str, str]:
        """(client principal, the server's reply token) for one SPNEGO token; raises web.HTTPError(403) if it fails."""
        import kerberos

        context = None
        try:
            _, context = kerberos.authGSSServerInit(self.acceptor_name)
            kerberos.authGSSServerStep(context, token)
            return kerberos.authGSSServerUserName(context), kerberos.authGSSServerResponse(context) or ""
        except kerberos.GSSError as exc:
            self.log.warning("%s: Kerberos token refused: %s", self.method_id, _gss_reason(exc))
            raise web.HTTPError(403, NOT_VERIFIED) from None
        finally:
            if context is not None:
                kerberos.authGSSServerClean(context)

    async def authenticate(self, handler: web.RequestHandler, data: dict) -> dict | None:
        principal, reply = self.accept(str(data.get("token", "")))
        handler.negotiate_reply = reply
        try:
            login = username_for(principal, self.realms())
        except PrincipalRefused as refused:
            self.log.warning("%s: %s", self.method_id, refused)
            raise web.HTTPError(403, NOT_ALLOWED) from None
        name = self.campus_name(login)
        groups: list[str] = []
        group_dns: list[str] = []
        if self.directory:
            group_dns = await asyncio.to_thread(self.directory_groups, login)
            from campushub.identity.ldap import group_name

            groups = sorted({group_name(dn) for dn in group_dns})
        from campushub.identity.ldap import matches

        if not (self.allow_all or matches(group_dns, [*self.allowed_groups, *self.admin_groups])):
            self.log.warning("%s: %s is in none of the allowed groups (has %s)", self.method_id, principal, groups)
            raise web.HTTPError(403, NOT_ALLOWED)
        self.log.info("%s: %s signs in as %r", self.method_id, principal, name)
        model: dict[str, Any] = {"name": name, "groups": groups if self.directory else None}
        if self.admin_groups:
            model["admin"] = matches(group_dns, self.admin_groups)
        return model

    def directory_groups(self, login: str) -> list[str]:
        """The DNs of every group (nested ones too) of the person the directory's search account finds by `login`.

        The LDAP method's own lookup binds as the person, with their password; a ticket brings none, so
        the search account reads the groups instead.
        """
        import ldap3
        from ldap3.core.exceptions import LDAPException
        from ldap3.utils.conv import escape_filter_chars

        from campushub.identity.directory import open_connection
        from campushub.identity.ldap import all_groups
        from campushub.identity.methods.ldap import LdapSignIn

        ldap = LdapSignIn.model_validate(self.directory)
        assert ldap.search is not None  # checked when campus.yaml is read (check_references)
        value = f"{login}@{ldap.username_domain}" if ldap.username_domain else login
        try:
            conn = open_connection(ldap)
            if not conn.rebind(user=ldap.search.bind_dn, password=ldap.search.bind_password or ""):
                raise LDAPException(f"bind as {ldap.search.bind_dn or 'anonymous'} refused")
            search = f"({escape_filter_chars(ldap.search.user_attribute)}={escape_filter_chars(value)})"
            conn.search(ldap.search.base, search, search_scope=ldap3.SUBTREE, attributes=[])
            if not conn.entries:
                conn.unbind()
                self.log.warning("%s: %r is not in the directory under %s", self.method_id, value, ldap.search.base)
                raise web.HTTPError(403, NOT_ALLOWED)
            dn = conn.entries[0].entry_dn
            groups = sorted(all_groups(conn, ldap.groups_base, dn, login))
            conn.unbind()
            return groups
        except (LDAPException, OSError) as exc:
            self.log.error("%s: the directory at %s could not be searched: %s", self.method_id, ldap.url, exc)
            raise web.HTTPError(503, DIRECTORY_DOWN) from None

    async def check_allowed(self, username: str, authentication: dict | None = None) -> bool:
        """`authenticate` let the person through by realm and groups; nobody comes another way."""
        return authentication is not None


def _gss_reason(exc: Exception) -> str:
    """pykerberos' ((major message, code), (minor message, code)) as one line for the log."""
    try:
        return "; ".join(str(part[0]) for part in exc.args[0] if part and part[0] and part[0] != "Unknown error")
    except (IndexError, TypeError):
        return str(exc)


def negotiate_token(header: str) -> str | None:
    """The base64 token of `Authorization: Negotiate <token>`, or None without one."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "negotiate" or not token.strip():
        return None
    return token.strip()


def is_ntlm(token: str) -> bool:
    """Windows falls back to NTLM inside Negotiate when it has no ticket for the host; that is not Kerberos."""
    try:
        return base64.b64decode(token[:16] + "=" * (-len(token[:16]) % 4)).startswith(b"NTLMSSP")
    except (binascii.Error, ValueError):
        return False


class SignInPage(LoginHandler):
    """Renders the hub's ordinary sign-in page (every method) from this method's URLs."""

    async def show_page(self, status: int, login_error: str | None = None) -> None:
        self.set_status(status)
        xsrf_token = self.xsrf_token
        if self.request.headers.get("Sec-Fetch-Mode", "navigate") == "navigate":
            _set_xsrf_cookie(self, self._xsrf_token_id, cookie_path=self.hub.base_url, xsrf_token=xsrf_token)
        self.finish(await self._render(login_error=login_error, username=""))


class NegotiateHandler(SignInPage):
    """/hub/kerberos/<name>/login: the Negotiate challenge, and the token's check when the browser answers it."""

    def check_xsrf_cookie(self) -> None:
        """GET only; a token in a header cannot be forged by another site's page."""

    async def get(self) -> None:
        authenticator: CampusKerberosAuthenticator = self.authenticator
        token = negotiate_token(self.request.headers.get("Authorization", ""))
        if token is None:
            if self.current_user:
                self.redirect(self.get_next_url(self.current_user))
                return
            self.set_header("WWW-Authenticate", "Negotiate")
            await self.show_page(401)
            return
        if is_ntlm(token):
            self.log.warning("%s: the browser offered NTLM, not Kerberos", authenticator.method_id)
            await self.show_page(403, NTLM_OFFERED)
            return
        try:
            user = await self.login_user({"token": token})
        except web.HTTPError as exc:
            if exc.status_code >= 500 and exc.status_code != 503:
                raise
            await self.show_page(exc.status_code, exc.log_message or NOT_VERIFIED)
            return
        if user is None:
            await self.show_page(403, NOT_ALLOWED)
            return
        reply = getattr(self, "negotiate_reply", "")
        if reply:
            self.set_header("WWW-Authenticate", f"Negotiate {reply}")  # mutual authentication
        self.redirect(self.get_next_url(user))


def negotiate_first(handlers: list, negotiator: CampusKerberosAuthenticator) -> list:
    """The hub's /login with Windows sign-in tried first (not right after signing out: see `after_sign_out`).

    CampusAuthenticator puts it before JupyterHub's own handler for the same path.
    """
    login = type("NegotiateFirstLoginHandler", (_NegotiateFirstLogin,), {"negotiator": negotiator})
    return [(path, login if path == "/login" else handler) for path, handler in handlers]


def after_sign_out(login_url: str) -> str:
    """The sign-in page without Windows sign-in tried, so that the ticket does not sign the person straight back in."""
    return url_concat(login_url, {SKIP_ARGUMENT: "no"})


class _NegotiateFirstLogin(LoginHandler):
    negotiator: ClassVar[CampusKerberosAuthenticator]

    async def get(self) -> None:
        if self.current_user or self.get_argument(SKIP_ARGUMENT, "") == "no":
            await super().get()
            return
        target = self.negotiator.negotiate_url(self.hub.base_url)
        next_url = self.get_argument("next", "")
        if next_url:
            target = url_concat(target, {"next": self.get_next_url()})
        self.redirect(target)
