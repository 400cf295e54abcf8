"""CampusConfig -> JupyterHub traitlets settings.

Small pure functions, one per concern, each returning `{Class: {trait: value}}`.
They take a `Layout` (where things live on disk) so they can be unit-tested
without a hub, a disk or root.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from campushub.config.schema import CampusConfig, OidcSignIn
from campushub.courses.directory import uses_directory_rosters
from campushub.identity.oidc import discovery_url_for
from campushub.identity.usernames import PATTERN as USERNAME_PATTERN

Settings = dict[str, dict[str, Any]]

TEMPLATES = Path(__file__).parent / "templates"
SINGLEUSER_CONFIG = Path(__file__).parent.parent / "singleuser" / "config"
CULLER_SERVICE = "idle-culler"
COURSES_SERVICE = "campushub-courses"
CLI_SERVICE = "campushub-cli"
# What `campushub users remove` may do through the running hub, with a token it makes for minutes at a time.
CLI_SCOPES = ["read:users:name", "read:servers", "delete:servers", "delete:users"]
# What the courses service does to the people of its courses: see them and their servers, start and stop those.
WARM_SCOPES = ("read:users:name", "read:users:activity", "read:servers", "start:servers", "delete:servers")


@dataclass(frozen=True)
class Layout:
    """Where CampusHub keeps things, all derived from campus.yaml and the install."""

    data_dir: Path
    environment: Path
    proxy_command: str
    running_as_root: bool

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def users_dir(self) -> Path:
        return self.data_dir / "users"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def courses_token_file(self) -> Path:
        """The courses service's API token: `campushub courses warm` uses it too."""
        return self.secrets_dir / "courses-service-token"

    @property
    def archive_dir(self) -> Path:
        """Removed users' files, packed before anything was deleted."""
        return self.data_dir / "archive"

    @property
    def forkserver_socket(self) -> Path:
        return self.run_dir / "forkserver.sock"


def layout_for(config: CampusConfig) -> Layout:
    from campushub.hub.proxy import find_proxy

    return Layout(
        data_dir=config.data_dir,
        environment=config.compute.environment or Path(sys.prefix),
        proxy_command=find_proxy() or "configurable-http-proxy",
        running_as_root=os.geteuid() == 0,
    )


def database_url(config: CampusConfig, layout: Layout) -> str:
    return config.database.url or f"sqlite:///{layout.data_dir / 'campushub.sqlite'}"


def internal_ports(config: CampusConfig) -> tuple[int, int]:
    """The hub API and proxy API ports: the two after the public one, on loopback."""
    return config.listen.port + 1, config.listen.port + 2


def activity_interval(idle_timeout: int) -> int:
    """How often servers report activity: a quarter of the timeout, so an active user is never culled."""
    return max(5, min(300, idle_timeout // 4))


def listen_settings(config: CampusConfig, layout: Layout) -> Settings:
    listen = config.listen
    hub_port, api_port = internal_ports(config)
    scheme = "https" if listen.tls_cert else "http"
    hub: dict[str, Any] = {
        "bind_url": f"{scheme}://{listen.ip}:{listen.port}/",
        "hub_bind_url": f"http://127.0.0.1:{hub_port}",
        "trusted_downstream_ips": list(listen.trusted_proxies),
    }
    if listen.tls_cert and listen.tls_key:
        hub["ssl_cert"] = str(listen.tls_cert)
        hub["ssl_key"] = str(listen.tls_key)
    if listen.public_url:
        hub["public_url"] = listen.public_url
    proxy = {
        "api_url": f"http://127.0.0.1:{api_port}",
        "command": [layout.proxy_command],
        "pid_file": str(layout.run_dir / "proxy.pid"),
    }
    return {"JupyterHub": hub, "ConfigurableHTTPProxy": proxy}


def storage_settings(config: CampusConfig, layout: Layout) -> Settings:
    return {
        "JupyterHub": {
            "db_url": database_url(config, layout),
            "cookie_secret_file": str(layout.secrets_dir / "jupyterhub_cookie_secret"),
            "pid_file": str(layout.run_dir / "hub.pid"),
        }
    }


def local_method_settings(config: CampusConfig, layout: Layout) -> dict[str, Any]:
    local = config.sign_in.local_settings
    return {
        "db_url": database_url(config, layout),
        "signup_mode": local.signup,
        "min_password_length": local.min_password_length,
        "max_failed_logins": local.max_failed_logins,
        "lockout_seconds": local.lockout,
        "trusted_proxies": list(config.listen.trusted_proxies),
        "signup_per_hour": local.signup_per_hour,
        "max_pending": local.max_pending,
    }


def ldap_login_pattern(username_domain: str | None) -> str:
    """What ldapauthenticator may pass to the directory: a CampusHub username, with the UPN suffix if one is set."""
    if not username_domain:
        return USERNAME_PATTERN
    return USERNAME_PATTERN.removesuffix("$") + "@" + re.escape(username_domain) + "$"


def ldap_method_settings(config: CampusConfig) -> dict[str, Any]:
    ldap = config.sign_in.ldap
    assert ldap is not None
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


METHOD_CLASSES = {
    "local": "campushub.identity.local.LocalAccountsAuthenticator",
    "ldap": "campushub.identity.ldap.CampusLDAPAuthenticator",
}


OIDC_CLASS = "campushub.identity.oidc.CampusOIDCAuthenticator"


GITHUB_CLASS = "campushub.identity.github.CampusGitHubAuthenticator"


def github_method_settings(name: str, github: OidcSignIn) -> dict[str, Any]:
    """Keyword arguments of one CampusGitHubAuthenticator: organisations and teams are its groups."""
    values: dict[str, Any] = {
        "method_id": name,
        "login_service": github.label,
        "client_id": github.client_id,
        "client_secret": github.client_secret,
        "scope": github.effective_scopes,
        "allowed_groups": {group.lower() for group in github.allowed_groups},
        "admin_groups": {group.lower() for group in github.admin_groups},
        "allow_all": github.allow_all,
        "manage_groups": True,
        "populate_teams_in_auth_state": True,
    }
    if github.github_url:
        values["github_url"] = github.github_url
    if github.callback_url:
        values["oauth_callback_url"] = github.callback_url
    return values


def redirect_method(name: str, provider: OidcSignIn) -> dict[str, Any]:
    """One button on the sign-in page: an OpenID provider, or GitHub."""
    github = provider.preset == "github"
    return {
        "id": name,
        "class": GITHUB_CLASS if github else OIDC_CLASS,
        "label": provider.label,
        "kind": "redirect",
        "url_prefix": f"/oidc/{name}",
        "config": github_method_settings(name, provider) if github else oidc_method_settings(name, provider),
    }


def oidc_method_settings(name: str, oidc: OidcSignIn) -> dict[str, Any]:
    """Keyword arguments of one CampusOIDCAuthenticator (several may exist, so not a config section)."""
    required_claims: dict[str, list[str]] = {}
    if oidc.preset == "google" and oidc.hosted_domain:
        required_claims["hd"] = [domain.lower() for domain in oidc.hosted_domain]
    if oidc.preset == "azuread" and oidc.tenant:
        required_claims["tid"] = [oidc.tenant]
    values: dict[str, Any] = {
        "method_id": name,
        "login_service": oidc.label,
        "discovery_url": discovery_url_for(oidc.preset, oidc.discovery_url, oidc.tenant),
        "client_id": oidc.client_id,
        "client_secret": oidc.client_secret,
        "scope": oidc.effective_scopes,
        "username_claim": oidc.effective_username_claim,
        "username_domains": list(oidc.username_domains),
        "required_claims": required_claims,
        "allowed_groups": set(oidc.allowed_groups),
        "admin_groups": set(oidc.admin_groups),
        "allow_all": oidc.allow_all,
        "manage_groups": oidc.groups_claim is not None,
        "userdata_from_id_token": oidc.preset == "azuread",  # Azure's userinfo lacks groups and tid
    }
    if oidc.groups_claim:
        values["auth_state_groups_key"] = f"oauth_user.{oidc.groups_claim}"
    if oidc.callback_url:
        values["oauth_callback_url"] = oidc.callback_url
    return values


def sign_in_methods(config: CampusConfig) -> list[dict[str, Any]]:
    """The methods in page order, as the sign-in page and CampusAuthenticator see them."""
    sign_in = config.sign_in
    methods: list[dict[str, Any]] = []
    if sign_in.local:
        methods.append({"id": "local", "class": METHOD_CLASSES["local"], "label": "Sign in", "kind": "password"})
    if sign_in.ldap:
        methods.append({"id": "ldap", "class": METHOD_CLASSES["ldap"], "label": sign_in.ldap.label, "kind": "password"})
    for name, provider in sign_in.oidc.items():
        methods.append(redirect_method(name, provider))
    return methods


def public_methods(methods: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What the sign-in page may know of the methods: no client secrets in templates."""
    return [{key: method[key] for key in ("id", "label", "kind")} for method in methods]


def identity_settings(config: CampusConfig, layout: Layout) -> Settings:
    """Each method is configured in its own class's section, as if it were the only one."""
    ldap = config.sign_in.ldap
    settings: Settings = {
        "JupyterHub": {"authenticator_class": "campushub.identity.combined.CampusAuthenticator"},
        "CampusAuthenticator": {
            "methods": sign_in_methods(config),
            "campus_admins": [{"name": name, "method": method} for name, method in config.admin_entries],
            "reserved_names": list(config.sign_in.local_settings.reserved_names),
            "max_failed_logins": config.sign_in.local_settings.max_failed_logins,
            "lockout_seconds": config.sign_in.local_settings.lockout,
            "trusted_proxies": list(config.listen.trusted_proxies),
            "chosen_name_methods": config.sign_in.chosen_name_methods,
            "link_by": config.sign_in.link_by,
            "db_url": database_url(config, layout),
            "manage_groups": bool(ldap and ldap.sync_groups)
            or any(oidc.groups_claim or oidc.preset == "github" for oidc in config.sign_in.oidc.values()),
        },
        "LocalAccountsAuthenticator": local_method_settings(config, layout),
    }
    if ldap:
        settings["CampusLDAPAuthenticator"] = ldap_method_settings(config)
    return settings


def branding_settings(config: CampusConfig, layout: Layout) -> Settings:
    return {
        "JupyterHub": {
            "template_paths": [str(TEMPLATES)],
            "template_vars": {
                "campus_name": config.name,
                "signup_mode": config.sign_in.local.signup if config.sign_in.local else "closed",
                "sign_in_methods": public_methods(sign_in_methods(config)),
            },
        }
    }


def server_environment(config: CampusConfig, layout: Layout) -> dict[str, str]:
    """What every user's server gets besides its own variables (also the fork server's whole environment)."""
    env_bin = layout.environment / "bin"
    return {
        "PATH": f"{env_bin}:/usr/local/bin:/usr/bin:/bin",
        "JUPYTERHUB_ACTIVITY_INTERVAL": str(activity_interval(config.compute.idle_timeout)),
        "JUPYTER_CONFIG_PATH": str(SINGLEUSER_CONFIG),
    }


def compute_settings(config: CampusConfig, layout: Layout) -> Settings:
    env_bin = layout.environment / "bin"
    interval = activity_interval(config.compute.idle_timeout)
    spawner: dict[str, Any] = {
        "cmd": [str(env_bin / "jupyterhub-singleuser")],
        "default_url": "/lab",
        # Time in the start line counts: a start may wait for others before its own begins.
        "start_timeout": 300,
        "environment": server_environment(config, layout),
        # A venv's own VIRTUAL_ENV/PYTHONPATH from the hub's process must not leak into users' servers.
        "env_keep": ["LANG", "LC_ALL", "TZ"],
    }
    local = config.compute.local
    return {
        "JupyterHub": {
            "spawner_class": "campushub.compute.local.CampusLocalSpawner",
            "last_activity_interval": interval,
        },
        "Spawner": spawner,
        "CampusLocalSpawner": {
            "isolate_users": layout.running_as_root,
            "user_prefix": local.user_prefix,
            "home_base": str(local.home_base),
            "personal_root": str(layout.users_dir),
            "forkserver_socket": str(layout.forkserver_socket) if local.fast_spawn else "",
            "parallel_starts": local.parallel_starts,
            "adopt_accounts": list(local.adopt_accounts),
            "user_logs_dir": str(layout.logs_dir / "users"),
        },
    }


def culler_settings(config: CampusConfig, layout: Layout) -> Settings:
    timeout = config.compute.idle_timeout
    service = {
        "name": CULLER_SERVICE,
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={timeout}",
            f"--cull-every={activity_interval(timeout)}",
        ],
    }
    role = {
        "name": CULLER_SERVICE,
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": [CULLER_SERVICE],
    }
    return {"JupyterHub": {"services": [service], "load_roles": [role]}}


def read_or_create_secret(path: Path) -> str:
    """A secret kept in a 0600 file under the private data dir, made on first use."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def directory_environment(config: CampusConfig) -> dict[str, str]:
    """The directory sign-in's settings, search password included, for rosters from directory groups.

    Only the hub's own account can read a service's environment; the log never shows it.
    """
    ldap = config.sign_in.ldap
    if ldap is None or not uses_directory_rosters(ldap):
        return {}
    return {"CAMPUSHUB_DIRECTORY": json.dumps(ldap.model_dump(mode="json"))}


def courses_settings(config: CampusConfig, layout: Layout) -> Settings:
    """The service that warms courses' servers before their meetings (only when courses are configured)."""
    if not config.courses:
        return {}
    courses = {key: course.model_dump(mode="json") for key, course in config.courses.items()}
    service = {
        "name": COURSES_SERVICE,
        "command": [sys.executable, "-m", "campushub.courses.warmer"],
        "api_token": read_or_create_secret(layout.courses_token_file),
        # Meeting times are local: the service keeps the time zone `campushub up` was given.
        "environment": {
            "CAMPUSHUB_COURSES": json.dumps(courses),
            **{k: v for k, v in os.environ.items() if k == "TZ"},
            **directory_environment(config),
        },
    }
    role = {"name": COURSES_SERVICE, "scopes": courses_scopes(config), "services": [COURSES_SERVICE]}
    return {"JupyterHub": {"services": [service], "load_roles": [role]}}


def courses_scopes(config: CampusConfig) -> list[str]:
    """The courses service reaches only its courses' people: each scope filtered to a member or a group.

    Creating a hub user for someone who never signed in takes `admin:users` (JupyterHub has nothing
    narrower): filtered to each listed member, and unfiltered only when a course's groups are looked
    up in the directory, whose members are known only when the service asks.
    """
    members = sorted({name for course in config.courses.values() for name in course.members})
    groups = sorted({group for course in config.courses.values() for group in course.groups})
    filters = [f"user={name}" for name in members] + [f"group={group}" for group in groups]
    scopes = [f"{scope}!{where}" for where in filters for scope in WARM_SCOPES]
    scopes += [f"admin:users!user={name}" for name in members]
    scopes += [f"read:groups!group={group}" for group in groups]
    ldap = config.sign_in.ldap
    if groups and ldap is not None and uses_directory_rosters(ldap):
        scopes += ["admin:users", *WARM_SCOPES]
    return scopes


def cli_service_settings(config: CampusConfig, layout: Layout) -> Settings:
    """The `campushub` command's own service: no process, no standing token, only the scopes removal needs."""
    role = {"name": CLI_SERVICE, "scopes": list(CLI_SCOPES), "services": [CLI_SERVICE]}
    return {"JupyterHub": {"services": [{"name": CLI_SERVICE, "display": False}], "load_roles": [role]}}


MAPPERS = (
    listen_settings,
    storage_settings,
    identity_settings,
    branding_settings,
    compute_settings,
    culler_settings,
    courses_settings,
    cli_service_settings,
)


def hub_settings(config: CampusConfig, layout: Layout) -> Settings:
    """All settings, merged: later mappers add traits (or items to lists such as services), never overwrite."""
    merged: Settings = {}
    for mapper in MAPPERS:
        for section, values in mapper(config, layout).items():
            target = merged.setdefault(section, {})
            for key, value in values.items():
                if key not in target:
                    target[key] = value
                elif isinstance(target[key], list) and isinstance(value, list):
                    target[key] = [*target[key], *value]
                else:
                    raise ValueError(f"{mapper.__name__} sets {section}.{key} twice")
    return merged
