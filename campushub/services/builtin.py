"""CampusHub's own services: the idle culler, the courses warmer, the library, and the CLI's API access."""

from __future__ import annotations

import os
import sys

from campushub.compute.activity import activity_interval
from campushub.config.schema import CampusConfig
from campushub.courses.directory import roster_directory
from campushub.hub.layout import Layout, library_port
from campushub.services import Service

CULLER_SERVICE = "idle-culler"
COURSES_SERVICE = "campushub-courses"
LIBRARY_SERVICE = "library"
CLI_SERVICE = "campushub-cli"
# What `campushub users remove` and a full stop (Ctrl-C) may do through the running hub, with a token made for
# minutes at a time.
CLI_SCOPES = ("list:users", "read:users:name", "read:servers", "delete:servers", "delete:users")
# What the courses service does to the people of its courses: see them and their servers, start and stop those.
WARM_SCOPES = ("read:users:name", "read:users:activity", "read:servers", "start:servers", "delete:servers")


def builtin_services(config: CampusConfig, layout: Layout) -> list[Service]:
    """The culler and the CLI's service always; the warmer only when campus.yaml has courses; the library unless off."""
    services = [culler_service(config)]
    if config.courses:
        services.append(courses_service(config))
    if config.library.enabled:
        services.append(library_service(config))
    services.append(cli_service())
    return services


def culler_service(config: CampusConfig) -> Service:
    timeout = config.compute.idle_timeout
    return Service(
        name=CULLER_SERVICE,
        command=(
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={timeout}",
            f"--cull-every={activity_interval(timeout)}",
        ),
        scopes=("list:users", "read:users:activity", "read:servers", "delete:servers"),
    )


def courses_service(config: CampusConfig) -> Service:
    """The warmer reads its courses and the directory (bind password included) from the snapshot.

    JupyterHub gives it a new token at every start; meeting times are local, so it keeps the time
    zone `campushub up` was given.
    """
    return Service(
        name=COURSES_SERVICE,
        command=(sys.executable, "-m", "campushub.courses.warmer"),
        scopes=tuple(courses_scopes(config)),
        reads_snapshot=True,
        environment={key: value for key, value in os.environ.items() if key == "TZ"},
    )


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
    if groups and roster_directory(config) is not None:
        scopes += ["admin:users", *WARM_SCOPES]
    return scopes


def library_service(config: CampusConfig) -> Service:
    """The library's pages: anyone reads public projects; signing in (anyone with an account) shows private ones.

    It needs no scope of the hub's API: who looks comes from the OAuth sign-in, what exists from its tables.
    """
    return Service(
        name=LIBRARY_SERVICE,
        command=(sys.executable, "-m", "campushub.library.service"),
        port=library_port(config),
        oauth_client=True,
        everyone_signs_in=True,
        display=True,
        reads_snapshot=True,
    )


def cli_service() -> Service:
    """The `campushub` command's own service: no process, no standing token, only the scopes removal needs."""
    return Service(name=CLI_SERVICE, scopes=CLI_SCOPES)
