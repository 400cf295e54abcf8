"""The `library:` section of campus.yaml: the public library of published projects."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from campushub.config.sections import Section, Size


class Library(Section):
    """The public library: projects people publish from their workspace, readable by anyone when public."""

    enabled: bool = Field(
        True,
        description="Run the library service at /services/library/. Off: no publishing, no project pages; "
        "what was published stays in the data directory.",
    )
    public_url: str | None = Field(
        None,
        description="A separate origin that serves the library's rendered pages, e.g. "
        "`https://library.notebooks.example.edu/` (a host name of its own, pointed at CampusHub's proxy). "
        "Recommended in production: rendered pages then never share an origin, and so never cookies, with the "
        "hub. Empty: pages are served under the hub's own origin, sandboxed by their Content-Security-Policy.",
    )
    max_project_size: Size = Field(
        100 * 1024**2,
        gt=0,
        description="Largest version of one project, all its files together, e.g. `100M`.",
    )
    max_user_size: Size = Field(
        1024**3,
        gt=0,
        description="Most one person may keep in the library, every version of every project together, e.g. `1G`.",
    )
    max_render_size: Size = Field(
        20 * 1024**2,
        gt=0,
        description="Largest file rendered as a page; larger files are offered as downloads only.",
    )

    launch_hosts: list[str] = Field(
        default_factory=lambda: ["github.com", "gitlab.com", "codeberg.org", "bitbucket.org"],
        description="Hosts whose git repositories a launch link (`/services/library/launch?repo=URL`) may clone, "
        "e.g. add your campus GitLab. Empty: no git launches.",
    )
    launch_schemes: list[Literal["https", "http"]] = Field(
        default_factory=lambda: ["https"],
        description="URL schemes a launch may clone over. `http` only for a host on a network you trust.",
    )

    @field_validator("launch_hosts")
    @classmethod
    def _plain_host_names(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not re.match(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", host):
                raise ValueError(f"{host!r} is not a host name: write it as `gitlab.example.edu`, no scheme or path")
        return hosts

    @field_validator("public_url")
    @classmethod
    def _an_origin(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s?#]+/?$", value):
            raise ValueError(
                "`public_url` must be a scheme and host such as https://library.notebooks.example.edu/ "
                "(the library is served at the root of its own host name, not under a sub-path)"
            )
        return value.rstrip("/") + "/" if value else value
