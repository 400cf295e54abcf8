"""The only place that writes CampusHub's settings to a traitlets config object."""

from __future__ import annotations

from pathlib import Path

from traitlets import import_item
from traitlets.config import Config

from campushub.config.loader import load_config
from campushub.config.schema import CampusConfig
from campushub.config.snapshot import read_snapshot
from campushub.hub.layout import Layout, layout_for
from campushub.hub.settings import hub_settings


def apply_config(c: Config, config: CampusConfig) -> Layout:
    """Set every mapped trait on `c`; returns the layout the settings were made for."""
    layout = layout_for(config)
    settings = hub_settings(config, layout)
    for section, values in settings.items():
        for trait, value in values.items():
            setattr(c[section], trait, value)
    import_profile_spawners(settings)
    return layout


def import_profile_spawners(settings: dict) -> None:
    """Each profile's spawner class is imported as the hub starts, as JupyterHub imports its own spawner class:
    a wrong one fails the start, not a student's, and one that adds hub pages (batchspawner's API for the port
    its server reports) has added them before the hub builds its handlers."""
    for offer in settings.get("CampusProfilesSpawner", {}).get("profiles", []):
        import_item(offer["spawner_class"])


def apply_snapshot(c: Config, snapshot: str | Path) -> Layout:
    """The running hub's settings: from the effective configuration `campushub up` wrote, never campus.yaml."""
    return apply_config(c, read_snapshot(snapshot))


def apply_settings(c: Config, campus_yaml: str | Path) -> None:
    """For a command that sets up a hub object of its own beside no running hub (`campushub token`)."""
    apply_config(c, load_config(campus_yaml).config)
