"""A campus directory (OpenLDAP or Active Directory) through jupyterhub-ldapauthenticator.

Several instances may be configured (two Active Directory forests): `sign_in.ldap` is one
directory, or a mapping of names to directories.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from campushub.config.sections import Section
from campushub.identity.methods.base import Probe, SignInMethod
from campushub.identity.usernames import PATTERN as USERNAME_PATTERN

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

TlsMode = Literal["ldaps", "starttls", "none"]


class LdapSearch(Section):
    """Search-then-bind: find the person's entry with a service account, then bind as them."""

    base: str = Field(description="Where people are, e.g. `ou=people,dc=example,dc=edu`.")
    user_attribute: str = Field(
        "uid",
        description="Attribute holding the login name: `uid` (OpenLDAP) or `sAMAccountName` (Active Directory).",
    )
    bind_dn: str | None = Field(None, description="Service account that may search. Empty: anonymous search.")
    bind_password: str | None = Field(None, description="Its password. Better given as `${ENV_VAR}`.")


class LdapSignIn(Section):
    """Campus directory: OpenLDAP or Active Directory, through jupyterhub-ldapauthenticator."""

    label: str = Field("Campus account", description="Title of this method's form on the sign-in page.")
    url: str = Field(
        description="Directory server, `ldaps://ldap.example.edu` (port 636) or `ldap://...` (389; use `starttls`).",
        pattern=r"^ldaps?://[^/\s:]+(:\d+)?/?$",
    )
    tls: TlsMode = Field(
        "ldaps",
        description="`ldaps`: TLS from the first byte. `starttls`: upgrade a plain connection. `none`: unencrypted "
        "(passwords cross the network in the clear; only for a directory on this machine).",
    )
    ca_cert: Path | None = Field(None, description="CA certificate (PEM) the server's certificate is checked against.")
    bind_dn_templates: list[str] = Field(
        default_factory=list,
        description="Direct bind: DNs to try, `{username}` replaced: `uid={username},ou=people,dc=example,dc=edu`.",
    )
    search: LdapSearch | None = Field(None, description="Search-then-bind instead of (or before) `bind_dn_templates`.")
    groups_base: str | None = Field(
        None, description="Where groups are, for group sync and nested groups, e.g. `ou=groups,dc=example,dc=edu`."
    )
    allowed_groups: list[str] = Field(
        default_factory=list,
        description="Groups (names or DNs) whose members may sign in; nested membership counts. "
        "Empty: nobody from this directory gets in unless `allow_all` is true.",
    )
    allow_all: bool = Field(False, description="Let every person in the directory sign in.")
    admin_groups: list[str] = Field(default_factory=list, description="Groups (names or DNs) whose members are admins.")
    sync_groups: bool = Field(True, description="Copy each person's groups into CampusHub groups at every sign-in.")
    email_attribute: str = Field("mail", description="Attribute holding the e-mail address (for `link_by: email`).")
    username_domain: str | None = Field(
        None,
        description="Active Directory UPN suffix, e.g. `ad.example.edu`: people type `jdoe` or `jdoe@ad.example.edu`, "
        "sign in as `jdoe`, and the directory is asked for `jdoe@ad.example.edu` (with `user_attribute: "
        "userPrincipalName` or a `{username}` bind template). Other suffixes are refused.",
        pattern=r"^[A-Za-z0-9.-]+$",
    )

    @model_validator(mode="after")
    def _a_way_to_find_people(self) -> LdapSignIn:
        if not self.bind_dn_templates and self.search is None:
            raise ValueError("give `bind_dn_templates` or `search` so CampusHub can find a person's entry")
        if self.url.startswith("ldaps://") and self.tls != "ldaps":
            raise ValueError("an `ldaps://` url needs `tls: ldaps`")
        if self.url.startswith("ldap://") and self.tls == "ldaps":
            raise ValueError("an `ldap://` url needs `tls: starttls` (or `none` on this machine only)")
        return self


class LdapMethod(SignInMethod):
    type_name = "ldap"
    config_model = LdapSignIn
    kind = "password"
    authenticator_class = "campushub.identity.ldap.CampusLDAPAuthenticator"
    instances = "one-or-many"

    @property
    def syncs_groups(self) -> bool:
        return self.settings.sync_groups

    def authenticator_config(self, config: CampusConfig, layout: Layout) -> dict[str, Any]:
        return ldap_authenticator_settings(self.settings)

    def probes(self) -> list[Probe]:
        from campushub.identity.diagnostics import ldap_problems

        return ldap_problems(self.settings, self.name)


def ldap_login_pattern(username_domain: str | None) -> str:
    """What ldapauthenticator may pass to the directory: a CampusHub username, with the UPN suffix if one is set."""
    if not username_domain:
        return USERNAME_PATTERN
    return USERNAME_PATTERN.removesuffix("$") + "@" + re.escape(username_domain) + "$"


def ldap_authenticator_settings(ldap: LdapSignIn) -> dict[str, Any]:
    """Keyword arguments of one CampusLDAPAuthenticator."""
    parsed = urlsplit(ldap.url)
    tls_kwargs: dict[str, Any] = {"validate": ssl.CERT_REQUIRED}  # ldap3's own default checks nothing
    if ldap.ca_cert:
        tls_kwargs["ca_certs_file"] = str(ldap.ca_cert)
    strategy = {"ldaps": "on_connect", "starttls": "before_bind", "none": "insecure"}[ldap.tls]
    values: dict[str, Any] = {
        "server_address": parsed.hostname,
        "server_port": parsed.port or (636 if ldap.tls == "ldaps" else 389),
        "tls_strategy": strategy,
        "tls_kwargs": tls_kwargs,
        "bind_dn_template": list(ldap.bind_dn_templates),
        "groups_base": ldap.groups_base,
        "campus_allowed_groups": list(ldap.allowed_groups),
        "campus_allow_all": ldap.allow_all,
        "campus_admin_groups": list(ldap.admin_groups),
        "sync_groups": ldap.sync_groups,
        "valid_username_regex": ldap_login_pattern(ldap.username_domain),
        "auth_state_attributes": [ldap.email_attribute],
        "username_domain": ldap.username_domain or "",
    }
    if ldap.search:
        values.update(
            {
                "lookup_dn": True,
                "user_search_base": ldap.search.base,
                "user_attribute": ldap.search.user_attribute,
                "lookup_dn_user_dn_attribute": ldap.search.user_attribute,
                "lookup_dn_search_user": ldap.search.bind_dn,
                "lookup_dn_search_password": ldap.search.bind_password,
            }
        )
    return values
