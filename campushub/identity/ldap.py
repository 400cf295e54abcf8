"""The `ldap` sign-in method: jupyterhub-ldapauthenticator plus what campuses need on top.

ldapauthenticator binds and looks people up well; it checks group membership
only one level deep and only for the groups listed. Campus directories nest
groups (a course group inside a department group) and admins expect every
group a person is in to show up in CampusHub, so group resolution here walks
memberOf, member and memberUid upwards, with a visited set against cycles.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn
from ldapauthenticator import LDAPAuthenticator
from tornado import web
from traitlets import Bool, List, Unicode

from campushub.identity.accounts import EMAIL_KEY
from campushub.identity.usernames import InvalidUsername, campus_username

MAX_NESTING = 10
GROUPS_KEY = "campushub_group_dns"
# The login name while LDAPAuthenticator works for this request (a task-local, not shared between logins).
_login_name: ContextVar[str] = ContextVar("campushub_ldap_login", default="")


def group_name(dn: str) -> str:
    """`cn=students,ou=groups,dc=x` -> `students`: the name CampusHub groups get."""
    try:
        return str(parse_dn(dn)[0][1])
    except Exception:
        return dn


def matches(group_dns: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether any group (by DN or by name, case-insensitively) is among `wanted`."""
    wanted = {entry.lower() for entry in wanted}
    return any(dn.lower() in wanted or group_name(dn).lower() in wanted for dn in group_dns)


def direct_groups(conn: ldap3.Connection, base: str | None, dn: str, uid: str | None) -> set[str]:
    """Groups that name `dn` as a member (groupOfNames/groupOfUniqueNames/AD) or `uid` (posixGroup)."""
    found: set[str] = set()
    conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["memberOf"])
    for entry in conn.entries:
        found.update(str(value) for value in entry.entry_attributes_as_dict.get("memberOf", []))
    if base:
        clauses = f"(member={escape_filter_chars(dn)})(uniqueMember={escape_filter_chars(dn)})"
        if uid:
            clauses += f"(memberUid={escape_filter_chars(uid)})"
        conn.search(base, f"(|{clauses})", search_scope=ldap3.SUBTREE, attributes=[])
        found.update(entry.entry_dn for entry in conn.entries)
    return found


def all_groups(conn: ldap3.Connection, base: str | None, user_dn: str, uid: str) -> set[str]:
    """Every group `user_dn` is in, directly or through nested groups."""
    groups = direct_groups(conn, base, user_dn, uid)
    frontier, seen = set(groups), set(groups)
    for _ in range(MAX_NESTING):
        parents: set[str] = set()
        for group in frontier:
            parents |= direct_groups(conn, base, group, None)
        frontier = parents - seen
        if not frontier:
            break
        seen |= frontier
    return seen


class CampusLDAPAuthenticator(LDAPAuthenticator):
    """LDAPAuthenticator with CampusHub usernames, nested groups, group-based allow and admin."""

    groups_base = Unicode(None, allow_none=True, help="Where groups are searched for group sync.").tag(config=True)
    campus_allowed_groups = List(Unicode(), help="Groups (names or DNs) whose members may sign in.").tag(config=True)
    campus_allow_all = Bool(False, help="Every person in the directory may sign in.").tag(config=True)
    campus_admin_groups = List(Unicode(), help="Groups (names or DNs) whose members are admins.").tag(config=True)
    sync_groups = Bool(True, help="Return groups so JupyterHub syncs them (manage_groups).").tag(config=True)
    username_domain = Unicode("", help="UPN suffix added for the directory and accepted in what people type.").tag(
        config=True
    )

    @property
    def email_attribute(self) -> str:
        return self.auth_state_attributes[0] if self.auth_state_attributes else "mail"

    def get_user_attributes(self, conn: ldap3.Connection, userdn: str) -> dict:
        # Called by LDAPAuthenticator with the connection bound as the person: resolve groups while it is open.
        attributes = super().get_user_attributes(conn, userdn)
        attributes[GROUPS_KEY] = sorted(all_groups(conn, self.groups_base, userdn, _login_name.get()))
        return attributes

    async def authenticate(self, handler, data: dict) -> dict | None:
        domains = [self.username_domain] if self.username_domain else []
        try:
            username = campus_username(str(data.get("username", "")), domains)
        except InvalidUsername:
            return None
        login = f"{username}@{self.username_domain}" if self.username_domain else username
        token = _login_name.set(username)
        try:
            model = await super().authenticate(handler, {**data, "username": login})
        except LDAPException as exc:
            self.log.error("LDAP sign-in of %r failed: %s", username, exc)
            raise web.HTTPError(503, "The campus directory cannot be reached. Try again in a few minutes.") from None
        finally:
            _login_name.reset(token)
        if model is None:
            return None
        model["name"] = username
        emails = model["auth_state"]["user_attributes"].get(self.email_attribute) or []
        if emails:
            model[EMAIL_KEY] = str(emails[0]).strip().lower()  # the directory is the campus's source of truth
        group_dns = model["auth_state"]["user_attributes"].pop(GROUPS_KEY, [])
        model["auth_state"]["group_dns"] = group_dns
        model["groups"] = sorted({group_name(dn) for dn in group_dns}) if self.sync_groups else None
        if self.campus_admin_groups:
            # Authoritative: leaving the admin group takes admin rights away at the next sign-in.
            # `admins` in campus.yaml is applied after this method's own rules (CampusAuthenticator.settle).
            model["admin"] = matches(group_dns, self.campus_admin_groups)
        return model

    async def check_allowed(self, username: str, auth_model: dict | None = None) -> bool:
        if self.campus_allow_all:
            return True
        group_dns = (auth_model or {}).get("auth_state", {}).get("group_dns", [])
        wanted = [*self.campus_allowed_groups, *self.campus_admin_groups]
        return matches(group_dns, wanted)
