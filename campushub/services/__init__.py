"""Services beside the hub, declared once and mapped to JupyterHub's `services` and `load_roles`.

CampusHub's own services (campushub/services/builtin.py) and a plug-in's (the `campushub_services`
hook) are all `Service`s: a name, a command if the hub runs it, the scopes of its role, and whether it
serves pages. What a service needs to know of the campus it reads from the effective configuration
(campushub/config/snapshot.py); nothing else travels to it in its environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from campushub.config.snapshot import SNAPSHOT_ENV
from campushub.hub.layout import Layout
from campushub.hub.lifeline import on_lifeline
from campushub.hub.merge import Settings


@dataclass(frozen=True)
class Service:
    """One CampusHub service.

    `command` empty: the hub runs no process for it (an API-only service such as the CLI's). `scopes`
    are its role's, as few as it needs (filtered ones such as `read:users!group=x` welcome); none: no
    role at all. With `port` (or `url`) it serves pages, proxied at /services/<name>/; `oauth_client`
    then lets people reach them signed in with their hub account, without a confirmation page, since
    the campus runs the service. `everyone_signs_in`: every hub user may sign in to it (JupyterHub's
    default user role reaches no service, so without it only admins could).
    `reads_snapshot` gives it $CAMPUSHUB_SNAPSHOT; `environment` is
    anything else it must have (today only TZ, for services that keep local time).
    """

    name: str
    command: Sequence[str] = ()
    scopes: Sequence[str] = ()
    oauth_client: bool = False
    url: str | None = None
    port: int | None = None
    reads_snapshot: bool = False
    display: bool = False
    everyone_signs_in: bool = False
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.oauth_client and self.endpoint is None:
            raise ValueError(f"service {self.name!r} is an OAuth client but serves no pages: give it a port or url")
        if self.everyone_signs_in and not self.oauth_client:
            raise ValueError(f"service {self.name!r} lets everyone sign in but is no OAuth client")
        if (self.reads_snapshot or self.environment) and not self.command:
            raise ValueError(f"service {self.name!r} has an environment but no command for the hub to run")

    @property
    def endpoint(self) -> str | None:
        """Where it serves pages, as JupyterHub's `url`: on loopback unless a URL is given."""
        if self.url:
            return self.url
        return f"http://127.0.0.1:{self.port}" if self.port else None


def service_spec(service: Service, layout: Layout) -> dict[str, Any]:
    """One entry of `JupyterHub.services`."""
    spec: dict[str, Any] = {"name": service.name, "display": service.display}
    if service.command:
        # It ends with the hub that started it, and is started again within a second if it crashes.
        spec["command"] = on_lifeline(service.command, restart=True)
        environment = dict(service.environment)
        if service.reads_snapshot:
            environment[SNAPSHOT_ENV] = str(layout.snapshot_file)
        if environment:
            spec["environment"] = environment
    if service.endpoint:
        spec["url"] = service.endpoint
        spec["oauth_no_confirm"] = service.oauth_client
    return spec


def service_role(service: Service) -> dict[str, Any]:
    """The role that gives a service its scopes, named after it."""
    return {"name": service.name, "scopes": list(service.scopes), "services": [service.name]}


def service_settings(services: Sequence[Service], layout: Layout) -> Settings:
    """`JupyterHub.services` and `load_roles` for every service; two with one name are a plug-in clash."""
    seen: set[str] = set()
    for service in services:
        if service.name in seen:
            raise ValueError(f"two services are named {service.name!r}: every service needs a name of its own")
        seen.add(service.name)
    if not services:
        return {}
    roles = [service_role(service) for service in services if service.scopes]
    reachable = [f"access:services!service={service.name}" for service in services if service.everyone_signs_in]
    if reachable:
        roles.append(user_role(reachable))
    return {"JupyterHub": {"services": [service_spec(service, layout) for service in services], "load_roles": roles}}


def user_role(extra_scopes: Sequence[str]) -> dict[str, Any]:
    """JupyterHub's default role of every user, `self`, plus signing in to the services open to everyone."""
    return {"name": "user", "scopes": ["self", *extra_scopes]}
