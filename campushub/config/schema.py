"""The campus.yaml schema.

Every key an admin can write lives here, with its description: the config
reference in docs/ is generated from these models, so the documentation
cannot drift from what the loader accepts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from campushub.identity.usernames import normalize_username

METHOD_ID = r"^[a-z][a-z0-9-]{0,31}$"
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> object:
    """Accept `90`, `"90s"`, `"30m"`, `"2h"`, `"1d"`; campus admins think in minutes, not seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError("expected a duration such as 900, '15m', '2h' or '1d'")
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


Duration = Annotated[int, BeforeValidator(parse_duration)]
Username = Annotated[str, AfterValidator(normalize_username)]


def parse_admin_entry(value: str) -> str:
    """`prof.x` or `ldap:prof.x` (only the `ldap` method's prof.x), normalised; the method is checked later."""
    method, colon, name = value.strip().rpartition(":")
    if colon and not re.match(METHOD_ID, method):
        raise ValueError(f"{value!r}: write `name` or `method:name`, e.g. `ldap:prof.x`")
    name = normalize_username(name)
    return f"{method}:{name}" if colon else name


AdminEntry = Annotated[str, AfterValidator(parse_admin_entry)]


class Section(BaseModel):
    """Base for every section: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_values_take_defaults(cls, data: object) -> object:
        # `database:` or `admins:` with only comments under it is YAML null: it means "the default".
        if isinstance(data, dict):
            return {
                key: value
                for key, value in data.items()
                if not (value is None and key in cls.model_fields and cls.model_fields[key].default is not None)
            }
        return data


class Listen(Section):
    """Where people reach CampusHub."""

    ip: str = Field("127.0.0.1", description="Address the public proxy listens on. `0.0.0.0` for all interfaces.")
    port: int = Field(8000, ge=1, le=65535, description="Port the public proxy listens on.")
    tls_cert: Path | None = Field(
        None, description="PEM certificate (full chain) to serve HTTPS directly. Needs `tls_key`."
    )
    tls_key: Path | None = Field(None, description="PEM private key for `tls_cert`.")
    public_url: str | None = Field(
        None,
        description=(
            "The URL people type, when CampusHub runs behind a TLS-terminating reverse proxy, "
            "e.g. `https://notebooks.example.edu/` (a host of its own, no sub-path). Used in printed links."
        ),
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="IP addresses of reverse proxies in front of CampusHub whose X-Forwarded-For is trusted.",
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Listen:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("`tls_cert` and `tls_key` must be given together")
        if self.public_url is not None and not re.match(r"^https?://[^/\s]+/?$", self.public_url):
            raise ValueError(
                "`public_url` must be a scheme and host such as https://notebooks.example.edu/ "
                "(CampusHub is served at the root of its own host name, not under a sub-path)"
            )
        return self


class Database(Section):
    """The hub database: accounts, servers, tokens."""

    url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the hub database. Empty: SQLite at `<data_dir>/campushub.sqlite`. "
            "For PostgreSQL: `postgresql://user:password@host/dbname`."
        ),
    )


SignupMode = Literal["closed", "approval", "invite", "open"]


class LocalSignIn(Section):
    """Built-in accounts: username and password kept (hashed) in the hub database."""

    signup: SignupMode = Field(
        "closed",
        description=(
            "Who may create an account. `closed`: only admins (`campushub users add`). "
            "`approval`: anyone may ask, an admin approves. `invite`: anyone with an invite code "
            "(`campushub users invite`). `open`: anyone."
        ),
    )
    min_password_length: int = Field(10, ge=8, le=128, description="Shortest password accepted at sign-up.")
    max_failed_logins: int = Field(
        5,
        ge=1,
        le=100,
        description=(
            "Failed sign-ins allowed from one address within `lockout`, by any method (built-in accounts, "
            "the directory, a refused single sign-on), before that address must wait. An account under attack "
            "is only slowed down (a few seconds at most), never locked: its owner still gets in from elsewhere."
        ),
    )
    lockout: Duration = Field(
        300,
        ge=10,
        description="The window failed sign-ins are counted in, and the longest an address waits (seconds, or '5m').",
    )
    signup_per_hour: int = Field(
        10, ge=1, le=10000, description="Sign-up requests accepted from one address per hour; more get a 429."
    )
    max_pending: int = Field(
        200,
        ge=1,
        le=100000,
        description=(
            "In `approval` mode, requests waiting for an administrator at most: past it, sign-up is paused "
            "until an administrator handles them."
        ),
    )
    reserved_names: list[Username] = Field(
        default_factory=list,
        description="Usernames nobody may sign up with, besides those CampusHub always reserves (root, admin, "
        "administrator, the machine's system accounts, every name in `admins`, removed users' names).",
    )


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


OidcPreset = Literal["generic", "azuread", "google", "github"]


class OidcSignIn(Section):
    """One OpenID Connect provider: the campus SSO, Azure AD / Entra ID, or Google Workspace."""

    preset: OidcPreset = Field(
        "generic",
        description="`generic` (any OpenID provider; needs `discovery_url`), `azuread` (needs `tenant`), "
        "`google` (Google Workspace; `hosted_domain` restricts to your domain by the `hd` claim), "
        "`github` (GitHub accounts; organisations and teams are the groups, as `org` and `org:team`).",
    )
    label: str = Field("Campus single sign-on", description="Text of this provider's button on the sign-in page.")
    discovery_url: str | None = Field(
        None,
        description="The provider's `/.well-known/openid-configuration` URL. Presets fill it in.",
        pattern=r"^https?://\S+$",
    )
    github_url: str | None = Field(
        None, description="`github`: your GitHub Enterprise Server's URL. Empty: github.com.", pattern=r"^https?://\S+$"
    )
    tenant: str | None = Field(None, description="`azuread`: the directory (tenant) ID; only its accounts get in.")
    hosted_domain: list[str] = Field(
        default_factory=list, description="`google`: Workspace domains whose accounts get in (checked on `hd`)."
    )
    client_id: str = Field(description="The client (application) ID registered with the provider.")
    client_secret: str = Field(description="Its secret. Better given as `${ENV_VAR}`.")
    callback_url: str | None = Field(
        None,
        description="The redirect URI registered with the provider. Empty: "
        "`<public URL>/hub/oidc/<name>/oauth_callback`, from the address people use.",
    )
    scopes: list[str] | None = Field(
        None, description="Scopes requested. Empty: `openid profile email`; for `github`: `read:org`."
    )
    username_claim: str | None = Field(
        None,
        description="Claim holding the username. Empty: `email` for `google`, `preferred_username` otherwise "
        "(`upn` on some AD setups).",
    )
    username_domains: list[str] = Field(
        default_factory=list,
        description="`alice@uni.edu` becomes `alice` when `uni.edu` is listed; names from other domains are refused.",
    )
    groups_claim: str | None = Field(None, description="Claim holding the person's groups (synced at each sign-in).")
    allowed_groups: list[str] = Field(default_factory=list, description="Groups whose members may sign in.")
    allow_all: bool = Field(
        False, description="Let every account of this provider sign in (with `tenant`/`hosted_domain`: of yours)."
    )
    admin_groups: list[str] = Field(default_factory=list, description="Groups whose members are admins.")

    @model_validator(mode="after")
    def _preset_needs(self) -> OidcSignIn:
        if self.preset == "generic" and not self.discovery_url:
            raise ValueError("the `generic` preset needs `discovery_url`")
        if self.preset == "azuread" and not self.tenant:
            raise ValueError("the `azuread` preset needs `tenant` (your directory ID)")
        if self.preset == "github":
            if self.groups_claim:
                raise ValueError("`github` groups are the person's organisations and teams: leave out `groups_claim`")
            return self
        if (self.allowed_groups or self.admin_groups) and not self.groups_claim:
            raise ValueError(
                "`allowed_groups` and `admin_groups` need `groups_claim` (the claim holding each person's groups)"
            )
        if "openid" not in self.effective_scopes:
            raise ValueError("`scopes` must include `openid`: without it the provider sends no ID token to check")
        return self

    @property
    def effective_scopes(self) -> list[str]:
        if self.scopes is not None:
            return list(self.scopes)
        return ["read:org"] if self.preset == "github" else ["openid", "profile", "email"]

    @property
    def effective_username_claim(self) -> str:
        """Google puts no preferred_username in its tokens; its accounts are named by e-mail."""
        if self.username_claim:
            return self.username_claim
        return {"google": "email", "github": "login"}.get(self.preset, "preferred_username")


LinkBy = Literal["none", "username", "email"]


class SignIn(Section):
    """How people sign in. Each key enables one method; no key at all means built-in accounts only."""

    local: LocalSignIn | None = Field(None, description="Built-in accounts.")
    ldap: LdapSignIn | None = Field(None, description="A campus LDAP directory or Active Directory.")
    oidc: dict[Annotated[str, StringConstraints(pattern=METHOD_ID)], OidcSignIn] = Field(
        default_factory=dict,
        description="OpenID Connect providers by a short name of your choice (used in URLs: `/hub/oidc/<name>/`).",
    )
    link_by: LinkBy = Field(
        "none",
        description="When two methods produce the same username: `none` refuses the second method (the name "
        "belongs to the first one that used it); `username` treats them as the same person; `email` signs a "
        "person in to the account first used with the same e-mail address (the directory's `mail`, an "
        "OpenID provider's e-mail only when it says `email_verified`), whatever username the method gives.",
    )

    @model_validator(mode="before")
    @classmethod
    def _methods_named_are_enabled(cls, data: object) -> object:
        # `local:` with only comments under it means "on, with the defaults"; no method at all means local only.
        if not isinstance(data, dict):
            return data
        data = {key: ({} if value is None and key in METHODS else value) for key, value in data.items()}
        if not any(key in METHODS or (key == "oidc" and data[key]) for key in data):
            data["local"] = {}
        return data

    @model_validator(mode="after")
    def _provider_names_are_free(self) -> SignIn:
        taken = sorted(set(self.oidc) & set(METHODS))
        if taken:
            raise ValueError(f"`oidc` provider names cannot be {', '.join(taken)}: those are sign-in methods already")
        return self

    @model_validator(mode="after")
    def _link_by_username_only_between_assigned_names(self) -> SignIn:
        chosen = self.self_chosen_methods
        if self.link_by == "username" and chosen:
            raise ValueError(
                "`link_by: username` would let anyone who picks a campus name take that person's account: "
                f"{', '.join(chosen)} let people choose their own usernames. Use `link_by: email` (vouched-for "
                "addresses only) or `none`, or close local sign-up (`local.signup: closed`)"
            )
        return self

    @property
    def self_chosen_methods(self) -> list[str]:
        """Methods whose usernames people pick themselves (local sign-up, GitHub logins), not the institution."""
        chosen = ["local (sign-up)"] if self.local is not None and self.local.signup != "closed" else []
        return chosen + self.chosen_name_methods

    @property
    def chosen_name_methods(self) -> list[str]:
        """Methods whose users pick their own login (GitHub): a bare name in `admins` never makes one of them admin."""
        return [name for name, provider in self.oidc.items() if provider.preset == "github"]

    @property
    def methods(self) -> list[str]:
        """Method ids in page order: password methods first, then one per OpenID provider."""
        return [name for name in METHODS if getattr(self, name) is not None] + list(self.oidc)

    @property
    def local_settings(self) -> LocalSignIn:
        """Settings for built-in accounts, which admins may create with the CLI even when sign-in by them is off."""
        return self.local or LocalSignIn()


METHODS = ("local", "ldap")  # password methods; OpenID providers are named by the admin under `oidc`


class LocalCompute(Section):
    """Notebook servers as processes on this machine."""

    user_prefix: str = Field(
        "nb-",
        pattern=r"^[a-z][a-z0-9_-]{0,6}[-_]$",
        description="Prefix of the system account made for each campus user when running as root (`nb-alice`): "
        "2 to 8 characters ending in `-` or `_`, so that no campus name completes it to a system account's name "
        "(`ro` + `ot`). `campushub check` refuses a prefix that begins the name of a system account (`systemd-`).",
    )
    home_base: Path = Field(Path("/home"), description="Where those system accounts' home directories are made.")
    parallel_starts: int = Field(
        0,
        ge=0,
        description="How many servers may be getting ready at once; the others wait in line and their sign-in page "
        "says how many are ahead. 0: one per CPU core.",
    )
    fast_spawn: bool = Field(
        True,
        description="Fork users' servers from a process that has imported Jupyter once (a fraction of the CPU of "
        "a fresh start; same accounts, groups, environment and isolation). `false`: start each one afresh.",
    )
    adopt_accounts: list[str] = Field(
        default_factory=list,
        description="System accounts that existed before CampusHub (not made by it) that users' servers may run as "
        "anyway, e.g. `[nb-alice]` when campus user `alice` already has that account. Any other existing account "
        "CampusHub did not create is refused, and root or system accounts (uid outside UID_MIN..UID_MAX of "
        "/etc/login.defs) always are.",
    )


class Compute(Section):
    """Where notebook servers run."""

    backend: Literal["local"] = Field("local", description="`local`: processes on this machine.")
    idle_timeout: Duration = Field(
        3600,
        ge=30,
        description=(
            "Stop a server after this long without activity (seconds, or '30m', '2h'). "
            "Open notebooks and running kernels count as activity. 0 is not allowed: set a long value instead."
        ),
    )
    environment: Path | None = Field(
        None,
        description=(
            "Prefix of the Python environment users' servers run in (it must contain `bin/jupyterhub-singleuser`). "
            "Empty: the environment CampusHub itself is installed in."
        ),
    )
    local: LocalCompute = Field(default_factory=LocalCompute, description="Settings of the `local` backend.")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Meeting(Section):
    """A weekly meeting of a course (lecture, lab), in the hub machine's local time."""

    days: list[Weekday] = Field(min_length=1, description="Weekdays it meets: `mon` ... `sun`.")
    start: ClockTime = Field(description="Start, `HH:MM` (24-hour, the hub machine's local time).")
    end: ClockTime = Field(description="End, `HH:MM`, later the same day.")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Meeting:
        if self.end <= self.start:
            raise ValueError(f"`end` ({self.end}) must be later than `start` ({self.start}) on the same day")
        return self


class Course(Section):
    """A course: who is in it, and when it meets (servers are started for its students before each meeting)."""

    title: str = Field("", description="Its name as people know it.")
    members: list[Username] = Field(default_factory=list, description="Usernames of its students and staff.")
    groups: list[str] = Field(
        default_factory=list,
        description="Groups whose members are in it: CampusHub groups, and the directory's own groups (nested ones "
        "too) when `sign_in.ldap` has `search` and `groups_base`, so people who never signed in are warmed too.",
    )
    meetings: list[Meeting] = Field(default_factory=list, description="When it meets, every week.")
    warm_before: Duration = Field(
        600, ge=0, description="Start its students' servers this long before each meeting (seconds, or '10m')."
    )
    release_after: Duration = Field(
        900,
        ge=0,
        description="This long after a meeting ends, stop the servers started for it that nobody used.",
    )


class CampusConfig(Section):
    """One institution's CampusHub."""

    name: str = Field("CampusHub", min_length=1, max_length=80, description="Institution name shown on every page.")
    listen: Listen = Field(default_factory=Listen, description="Where people reach CampusHub.")
    data_dir: Path = Field(
        Path("data"),
        description="Where CampusHub keeps its database, secrets, logs and (personal mode) users' files. "
        "Relative paths are relative to the campus.yaml file.",
    )
    database: Database = Field(default_factory=Database, description="The hub database.")
    sign_in: SignIn = Field(default_factory=SignIn, description="How people sign in.")
    admins: list[AdminEntry] = Field(
        default_factory=list,
        description="Usernames with full admin rights, granted at sign-in and at every start (a name taken off "
        "the list loses them at the next start). `name` counts through any method whose usernames the campus "
        "assigns (built-in accounts, the directory, OpenID providers, not GitHub); `method:name` (`ldap:prof.x`, "
        "`gh:carol`) only through that method, and no other method may then claim the name. Being listed never "
        "lets anyone past a method's own rules (groups, organisations, `hd`, tenant).",
    )
    compute: Compute = Field(default_factory=Compute, description="Where notebook servers run.")
    courses: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")], Course] = Field(
        default_factory=dict,
        description="Courses by a short ID of your choice (`phys101`), used by `campushub courses warm ID`.",
    )

    @field_validator("admins")
    @classmethod
    def _admin_methods_exist(cls, admins: list[str], info: ValidationInfo) -> list[str]:
        sign_in = info.data.get("sign_in")
        if sign_in is None:
            return admins  # sign_in itself is wrong: that error is reported instead
        for entry in admins:
            method = entry.rpartition(":")[0]
            if method and method not in sign_in.methods:
                raise ValueError(
                    f"{entry!r} names the sign-in method {method!r}, which is not configured "
                    f"(methods here: {', '.join(sign_in.methods)})"
                )
        return admins

    @property
    def admin_entries(self) -> list[tuple[str, str | None]]:
        """(name, owning method or None) for each entry of `admins`."""
        entries = []
        for entry in self.admins:
            method, _, name = entry.rpartition(":")
            entries.append((name, method or None))
        return entries

    @property
    def admin_names(self) -> set[str]:
        return {name for name, _ in self.admin_entries}
