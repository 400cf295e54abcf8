"""CampusConfig -> JupyterHub traitlets settings.

Small pure functions, one per concern, each returning `{Class: {trait: value}}`.
They take a `Layout` (where things live on disk) so they can be unit-tested
without a hub, a disk or root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from campushub.compute.activity import activity_interval
from campushub.compute.profile_settings import compute_settings as profile_compute_settings
from campushub.config.schema import CampusConfig
from campushub.hub.layout import Layout, database_url, internal_ports
from campushub.hub.lifeline import on_lifeline
from campushub.hub.merge import Settings, merge_settings
from campushub.identity.groups import course_roster_entries
from campushub.identity.methods.base import SignInMethod
from campushub.identity.methods.local import local_settings
from campushub.plugins import plugin_hub_settings, services_for
from campushub.services import service_settings

TEMPLATES = Path(__file__).parent / "templates"
PROXY_CHECK_SECONDS = 3


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
        # On a lifeline: the proxy ends with the hub, so no proxy outlives it holding the ports.
        "command": on_lifeline([layout.proxy_command]),
        "pid_file": str(layout.run_dir / "proxy.pid"),
        # A proxy that ended is started again, its routes restored, within this many seconds.
        "check_running_interval": PROXY_CHECK_SECONDS,
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


def restart_settings(config: CampusConfig, layout: Layout) -> Settings:
    """Users' servers outlive the hub: a restart (upgrade, reload, crash) finds them again in the database.

    The proxy and the services end with the hub and start with the next one, which restores the routes.
    """
    return {"JupyterHub": {"cleanup_servers": False, "cleanup_proxy": True}}


def sign_in_methods(config: CampusConfig) -> list[SignInMethod]:
    """The configured method instances, in page order (the registry decides the types and their order)."""
    return config.sign_in.instances()


def identity_settings(config: CampusConfig, layout: Layout) -> Settings:
    """CampusAuthenticator holds one Authenticator per method instance, each configured as if it were alone."""
    methods = sign_in_methods(config)
    local = config.sign_in.local_settings
    settings: Settings = {
        "JupyterHub": {"authenticator_class": "campushub.identity.combined.CampusAuthenticator"},
        "CampusAuthenticator": {
            "methods": [method.combined_entry(config, layout) for method in methods],
            "campus_admins": [{"name": name, "method": method} for name, method in config.admin_entries],
            "reserved_names": list(local.reserved_names),
            "max_failed_logins": local.max_failed_logins,
            "lockout_seconds": local.lockout,
            "trusted_proxies": list(config.listen.trusted_proxies),
            "chosen_name_methods": config.sign_in.chosen_name_methods,
            "link_by": config.sign_in.link_by,
            "db_url": database_url(config, layout),
            "manage_groups": any(method.syncs_groups or method.kind == "launch" for method in methods)
            or bool(config.courses),
            "courses": course_roster_entries(config.courses),
            "library_links": config.library.enabled,
        },
        "LocalAccountsAuthenticator": local_settings(
            local, database_url(config, layout), config.listen.trusted_proxies
        ),
    }
    return merge_settings(
        [("identity", settings)] + [(method.name, method.hub_settings(config, layout)) for method in methods]
    )


def branding_settings(config: CampusConfig, layout: Layout) -> Settings:
    return {
        "JupyterHub": {
            "template_paths": [str(TEMPLATES)],
            "template_vars": {
                "campus_name": config.name,
                "signup_mode": config.sign_in.local.signup if config.sign_in.local else "closed",
                "sign_in_methods": [method.page_entry() for method in sign_in_methods(config)],
            },
        }
    }


def capacity_settings(config: CampusConfig, layout: Layout) -> Settings:
    """`compute.max_servers`: JupyterHub's own count of active servers, whichever backend runs them."""
    if config.compute.max_servers is None:
        return {}
    return {"JupyterHub": {"active_server_limit": config.compute.max_servers}}


def activity_settings(config: CampusConfig, layout: Layout) -> Settings:
    """How often the hub records activity: JupyterHub's own pace, whichever backend runs the servers."""
    return {"JupyterHub": {"last_activity_interval": activity_interval(config.compute.idle_timeout)}}


def compute_settings(config: CampusConfig, layout: Layout) -> Settings:
    """The spawner and its traits: `compute.backend`'s, or the profiles spawner over every backend in use."""
    return profile_compute_settings(config, layout)


def services_settings(config: CampusConfig, layout: Layout) -> Settings:
    """The services of CampusHub and of every plug-in (the `campushub_services` hook), with their roles."""
    return service_settings(services_for(config, layout), layout)


MAPPERS = (
    listen_settings,
    storage_settings,
    restart_settings,
    identity_settings,
    branding_settings,
    activity_settings,
    capacity_settings,
    compute_settings,
    services_settings,
)


def hub_settings(config: CampusConfig, layout: Layout) -> Settings:
    """All settings, merged: CampusHub's mappers, then plug-ins' extra settings (the `campushub_hub_settings`
    hook). Later parts add traits (or items to lists such as services), never overwrite."""
    parts = [(mapper.__name__, mapper(config, layout)) for mapper in MAPPERS]
    return merge_settings([*parts, *plugin_hub_settings(config, layout)])
