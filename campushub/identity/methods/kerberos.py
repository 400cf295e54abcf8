"""Windows integrated sign-in: HTTP Negotiate (SPNEGO) with a Kerberos keytab, as Active Directory campuses have it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from campushub.config.sections import ProblemAt, Section
from campushub.identity.methods.base import Probe, SignInMethod

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.config.sign_in import SignInBase
    from campushub.hub.layout import Layout

KERBEROS_CLASS = "campushub.identity.kerberos.CampusKerberosAuthenticator"
INSTALL_HINT = "install it with `pip install 'campushub[kerberos]'` (it builds against Debian's libkrb5-dev)"


class KerberosSignIn(Section):
    """Windows integrated sign-in (Kerberos / SPNEGO): a browser that holds a Kerberos ticket of the campus
    domain signs in without a form; everyone else gets the sign-in page with the other methods."""

    label: str = Field(
        "Windows sign-in (this computer's account)",
        description="Text of the button on the sign-in page that tries integrated sign-in again.",
    )
    keytab: Path = Field(
        description="The keytab holding the key of the hub's service principal (from `ktpass` on Active Directory or "
        "`kadmin ktadd` on MIT Kerberos), readable by the hub and by nobody else."
    )
    service_principal: str | None = Field(
        None,
        description="The hub's service principal, `HTTP/<host people type>` with or without `@REALM`. "
        "Empty: `HTTP/<host of listen.public_url>`; without `public_url` either, any key in the keytab is accepted.",
    )
    allowed_realms: list[str] = Field(
        default_factory=list,
        description="Realms whose people may sign in (Kerberos realms are upper-case, e.g. `AD.EXAMPLE.EDU`). "
        "Empty: the realm of the service principal in the keytab. People of other realms that your domain trusts "
        "are refused unless listed.",
    )
    groups_from_ldap: str | None = Field(
        None,
        description="Name of an `ldap` sign-in method (of the same directory) to read each person's groups from, "
        "through its `search` account, at every sign-in. Needed for `allowed_groups` and `admin_groups`.",
    )
    allowed_groups: list[str] = Field(
        default_factory=list,
        description="Directory groups (names or DNs; nested membership counts) whose members may sign in.",
    )
    allow_all: bool = Field(False, description="Let everyone of the allowed realms sign in.")
    admin_groups: list[str] = Field(default_factory=list, description="Directory groups whose members are admins.")

    @field_validator("service_principal")
    @classmethod
    def _principal_has_a_host(cls, value: str | None) -> str | None:
        from campushub.identity.kerberos_names import parse_principal

        if value is not None and len(parse_principal(value).components) != 2:
            raise ValueError(f"{value!r}: write the service principal as `HTTP/host.example.edu` (or with `@REALM`)")
        return value

    @model_validator(mode="after")
    def _who_may_sign_in(self) -> KerberosSignIn:
        if not (self.allow_all or self.allowed_groups):
            raise ValueError(
                "say who may sign in: `allowed_groups` (with `groups_from_ldap`) or `allow_all: true` "
                "(everyone of the allowed realms)"
            )
        if (self.allowed_groups or self.admin_groups) and not self.groups_from_ldap:
            key = "allowed_groups" if self.allowed_groups else "admin_groups"
            raise ProblemAt(
                (key,),
                f"`{key}` needs `groups_from_ldap`: a Kerberos ticket names the person, not their groups; name the "
                "`ldap` sign-in method of the same directory to read them from",
            )
        return self


class KerberosMethod(SignInMethod):
    type_name = "kerberos"
    config_model = KerberosSignIn
    kind = "negotiate"
    authenticator_class = KERBEROS_CLASS
    url_prefix_base = "kerberos"

    @property
    def login_path(self) -> str:
        return f"kerberos/{self.name}/login"

    @property
    def syncs_groups(self) -> bool:
        return bool(self.settings.groups_from_ldap)

    def check_references(self, sign_in: SignInBase) -> None:
        """`groups_from_ldap` names an `ldap` method that can search the directory."""
        wanted = self.settings.groups_from_ldap
        if not wanted:
            return
        directories = sign_in.of_type("ldap")
        if wanted not in directories:
            raise ProblemAt(
                (self.type_name, "groups_from_ldap"),
                f"`groups_from_ldap: {wanted}` names no `ldap` sign-in method (configured: "
                f"{', '.join(directories) or 'none'}); give the name of the one for the same directory",
            )
        if directories[wanted].search is None:
            raise ProblemAt(
                (self.type_name, "groups_from_ldap"),
                f"`groups_from_ldap: {wanted}`: that ldap method has no `search` account to look people up with; "
                "give it `search:` (base, bind_dn, bind_password)",
            )

    def service_principal(self, config: CampusConfig) -> str:
        """The configured principal, else HTTP/<public host>, else "" (any key of the keytab)."""
        if self.settings.service_principal:
            return self.settings.service_principal
        host = urlsplit(config.listen.public_url or "").hostname
        return f"HTTP/{host}" if host else ""

    def authenticator_config(self, config: CampusConfig, layout: Layout) -> dict[str, Any]:
        kerberos: KerberosSignIn = self.settings
        directory: dict[str, Any] = {}
        if kerberos.groups_from_ldap:
            directory = config.sign_in.of_type("ldap")[kerberos.groups_from_ldap].model_dump(mode="json")
        return {
            "method_id": self.name,
            "login_service": kerberos.label,
            "keytab": str(kerberos.keytab),
            "service_principal": self.service_principal(config),
            "allowed_realms": list(kerberos.allowed_realms),
            "directory": directory,
            "allowed_groups": list(kerberos.allowed_groups),
            "allow_all": kerberos.allow_all,
            "admin_groups": list(kerberos.admin_groups),
        }

    def probes(self) -> list[Probe]:
        """The keytab read, the service principal found in it, and the GSSAPI library importable."""
        from campushub.identity.kerberos_names import KeytabError, matching, parse_principal, read_keytab

        kerberos: KerberosSignIn = self.settings
        results: list[Probe] = []
        label = f"kerberos {self.name} keytab {kerberos.keytab}"
        try:
            principals = read_keytab(kerberos.keytab)
        except KeytabError as exc:
            return [(label, str(exc))]
        if kerberos.service_principal:
            wanted = parse_principal(kerberos.service_principal)
            found = matching(principals, wanted)
            problem = None if found else (
                f"no key for {wanted} in it (it holds {', '.join(map(str, principals)) or 'nothing'}): export the "
                "key of the principal browsers ask for, `HTTP/<host people type>` (docs/sign-in/kerberos.md)"
            )  # fmt: skip
        else:
            found = [principal for principal in principals if principal.components[:1] == ("HTTP",)]
            problem = None if found else (
                f"no HTTP/ service principal in it (it holds {', '.join(map(str, principals)) or 'nothing'})"
            )  # fmt: skip
        shown = ", ".join(sorted({str(principal) for principal in found}))
        results.append((f"{label} ({shown or 'no matching principal'})", problem))
        try:
            import kerberos as _  # noqa: F401
        except ImportError:
            results.append((f"kerberos {self.name} library", f"the `kerberos` package is missing: {INSTALL_HINT}"))
        return results
