"""The escape hatch: the admin's own JupyterHub settings, in data_dir/jupyterhub_config.d/*.py.

As in The Littlest JupyterHub, each file is Python run with `c`, the hub's config object, after
CampusHub has applied its own settings: a file may set any trait CampusHub does not map, or change
one it does. Files run in name order (`10-extra.py` before `50-banner.py`), and the hub log names each
one, so that whoever reads the log knows the hub is not configured by campus.yaml alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from traitlets.config import Config

# JupyterHub's own logger: configured before the config file runs, so these lines are in the hub log.
log = logging.getLogger("JupyterHub")


class ConfigFileFailed(Exception):
    """A file of jupyterhub_config.d raised: the hub does not start half-configured."""


def config_files(directory: Path) -> list[Path]:
    """The files to load, in name order; none when the directory does not exist."""
    return sorted(path for path in directory.glob("*.py") if path.is_file())


def run_config_file(c: Config, path: Path) -> None:
    """Run one file with `c` (and `get_config()`, as in a jupyterhub_config.py) in a namespace of its own."""
    namespace = {"c": c, "get_config": lambda: c, "__file__": str(path), "__name__": "jupyterhub_config_d"}
    try:
        exec(compile(path.read_bytes(), str(path), "exec"), namespace)
    except Exception as exc:
        raise ConfigFileFailed(
            f"{path.parent.name}/{path.name} failed ({type(exc).__name__}: {exc}): fix it, or move it out of "
            f"{path.parent}, then start CampusHub again"
        ) from exc


def load_config_d(c: Config, directory: Path) -> list[Path]:
    """Run every file of `directory` on `c`, logging each; returns the files run."""
    loaded = []
    for path in config_files(directory):
        run_config_file(c, path)
        log.info("Loaded %s/%s", directory.name, path.name)
        loaded.append(path)
    return loaded
