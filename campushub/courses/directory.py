"""Course rosters straight from the campus directory: everyone in a group, nested groups included.

CampusHub groups synced from the directory fill in as each person signs in, so before the first
lecture of a term a course group in CampusHub is nearly empty, and warming it would start almost
nothing. With a search account (`sign_in.ldap.search`) and `groups_base`, the warmer asks the
directory itself. It keeps only people who may sign in (the method's allow rules, worked out the
same way), so a course group never lets anyone in that sign-in would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from campushub.identity.directory import open_connection
from campushub.identity.methods.ldap import LdapSignIn
from campushub.identity.usernames import InvalidUsername, campus_username

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig

MAX_NESTING = 10
GROUP_CLASSES = ("groupOfNames", "groupOfUniqueNames", "posixGroup", "group")
DN_MEMBER_ATTRIBUTES = ("member", "uniqueMember")
GROUP_FILTER = "(|" + "".join(f"(objectClass={name})" for name in GROUP_CLASSES) + ")"


class DirectoryUnavailable(Exception):
    """The directory could not be reached or searched; the message says which and why."""


@dataclass
class DirectoryRoster:
    """Usernames from directory groups, and what got in the way of naming everyone."""

    usernames: set[str] = field(default_factory=set)
    not_allowed: set[str] = field(default_factory=set)
    unnamed: set[str] = field(default_factory=set)  # entries without a usable login name (DNs)
    unknown_groups: set[str] = field(default_factory=set)


def uses_directory_rosters(ldap: LdapSignIn | None) -> bool:
    """Whether course groups can be looked up: a service account to search with, and a place to find groups."""
    return ldap is not None and ldap.search is not None and ldap.groups_base is not None


def roster_directory(config: CampusConfig) -> LdapSignIn | None:
    """The directory whose groups fill courses' rosters: the first `ldap` sign-in that can look groups up."""
    directories = config.sign_in.of_type("ldap").values()
    return next((ldap for ldap in directories if uses_directory_rosters(ldap)), None)


def member_dn(value: str) -> str:
    """uniqueMember may carry a `#'0101'B` uid suffix after the DN."""
    return value.split("#", 1)[0]


class _Walker:
    """One bound connection, walking groups downwards with a memory of what it has seen (cycles end)."""

    def __init__(self, conn: ldap3.Connection, ldap: LdapSignIn) -> None:
        assert ldap.search is not None and ldap.groups_base is not None
        self.conn = conn
        self.groups_base = ldap.groups_base
        self.user_attribute = ldap.search.user_attribute
        self.domains = [ldap.username_domain] if ldap.username_domain else []

    def find_group(self, group: str) -> str | None:
        """A group's DN from its name (its cn under groups_base), or the DN it was given if that is a group."""
        if "=" in group:
            entry = self._read(group, ["objectClass"])
            return group if entry is not None and self._is_group(entry) else None
        self.conn.search(
            self.groups_base, f"(&{GROUP_FILTER}(cn={escape_filter_chars(group)}))", ldap3.SUBTREE, attributes=[]
        )
        return self.conn.entries[0].entry_dn if self.conn.entries else None

    def members(self, group_dns: Iterable[str], roster: DirectoryRoster) -> set[str]:
        names: set[str] = set()
        frontier, seen = set(group_dns), set(group_dns)
        for _ in range(MAX_NESTING):
            nested: set[str] = set()
            for group_dn in frontier:
                entry = self._read(group_dn, [*DN_MEMBER_ATTRIBUTES, "memberUid"])
                if entry is None:
                    continue
                for uid in entry.get("memberuid", []):
                    self._add(str(uid), group_dn, names, roster)
                for value in (v for attribute in DN_MEMBER_ATTRIBUTES for v in entry.get(attribute.lower(), [])):
                    dn = member_dn(str(value))
                    member = self._read(dn, ["objectClass", self.user_attribute])
                    if member is None:
                        roster.unnamed.add(dn)
                    elif self._is_group(member):
                        nested.add(dn)
                    else:
                        login = member.get(self.user_attribute.lower(), [])
                        self._add(str(login[0]) if login else "", dn, names, roster)
            frontier = nested - seen
            if not frontier:
                break
            seen |= frontier
        return names

    def _add(self, login: str, where: str, names: set[str], roster: DirectoryRoster) -> None:
        try:
            names.add(campus_username(login, self.domains))
        except InvalidUsername:
            roster.unnamed.add(where if not login else f"{login} ({where})")

    def _read(self, dn: str, attributes: list[str]) -> dict[str, list] | None:
        """The entry's attributes by lower-case name (directories differ in how they spell them), or None."""
        try:
            found = self.conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes)
        except LDAPException:  # a malformed DN in a member value: nothing to read there
            return None
        if not found or not self.conn.entries:
            return None
        return {key.lower(): values for key, values in self.conn.entries[0].entry_attributes_as_dict.items()}

    @staticmethod
    def _is_group(entry: dict) -> bool:
        return any(str(oc).lower() in {name.lower() for name in GROUP_CLASSES} for oc in entry.get("objectclass", []))


def directory_roster(ldap: LdapSignIn, groups: Iterable[str]) -> DirectoryRoster:
    """Everyone in `groups` (names or DNs) who may sign in through `ldap`; groups the directory lacks are noted,
    not fatal (they may be CampusHub groups from another sign-in method)."""
    assert uses_directory_rosters(ldap) and ldap.search is not None
    roster = DirectoryRoster()
    try:
        conn = open_connection(ldap)
        if not conn.rebind(user=ldap.search.bind_dn, password=ldap.search.bind_password or ""):
            reason = (conn.result or {}).get("description") or "refused"
            raise DirectoryUnavailable(f"bind as {ldap.search.bind_dn or 'anonymous'} failed: {reason}")
        walker = _Walker(conn, ldap)
        wanted = []
        for group in groups:
            dn = walker.find_group(group)
            if dn is None:
                roster.unknown_groups.add(group)
            else:
                wanted.append(dn)
        everyone = walker.members(wanted, roster) if wanted else set()
        if not ldap.allow_all:
            allowed_dns = [dn for g in [*ldap.allowed_groups, *ldap.admin_groups] if (dn := walker.find_group(g))]
            allowed = walker.members(allowed_dns, DirectoryRoster()) if allowed_dns else set()
            roster.not_allowed = everyone - allowed
            everyone &= allowed
        roster.usernames = everyone
        conn.unbind()
    except (LDAPException, OSError) as exc:
        raise DirectoryUnavailable(f"the directory at {ldap.url} could not be searched: {exc}") from None
    return roster
