"""Where CampusHub keeps things on disk and which loopback ports it uses, all derived from campus.yaml.

Every part of CampusHub (the CLI, set-up, preflight probes, the runtime, the hub's settings) finds
its files through a `Layout`, so that no module works out a path of its own.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from campushub.config.schema import CampusConfig


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
    def archive_dir(self) -> Path:
        """Removed users' files, packed before anything was deleted."""
        return self.data_dir / "archive"

    @property
    def library_dir(self) -> Path:
        """Published projects' versions (campushub/library/store.py)."""
        return self.data_dir / "library"

    @property
    def library_cache_dir(self) -> Path:
        """Rendered library files, kept per version; safe to delete."""
        return self.data_dir / "cache" / "library"

    @property
    def forkserver_socket(self) -> Path:
        return self.run_dir / "forkserver.sock"

    @property
    def snapshot_file(self) -> Path:
        """The effective configuration `up` validated, which the hub and every service read (secrets inside: 0600)."""
        return self.secrets_dir / "effective-config.json"

    @property
    def config_d(self) -> Path:
        """The admin's own JupyterHub settings, loaded after CampusHub's (the escape hatch)."""
        return self.data_dir / "jupyterhub_config.d"


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


def library_port(config: CampusConfig) -> int:
    """The library service's port on loopback: the third after the public one."""
    return config.listen.port + 3


def internal_ports(config: CampusConfig) -> tuple[int, int]:
    """The hub API and proxy API ports: the two after the public one, on loopback."""
    return config.listen.port + 1, config.listen.port + 2
