"""The only place that writes CampusHub's settings to a traitlets config object."""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

from campushub.config.loader import load_config
from campushub.config.schema import CampusConfig
from campushub.config.snapshot import read_snapshot
from campushub.hub.layout import Layout, layout_for
from campushub.hub.settings import hub_settings


def apply_config(c: Config, config: CampusConfig) -> Layout:
    """Set every mapped trait on `c`; returns the layout the settings were made for."""
    layout = layout_for(config)
    for section, values in hub_settings(config, layout).items():
        for trait, value in values.items():
            setattr(c[section], trait, value)
    return layout


def apply_snapshot(c: Config, snapshot: str | Path) -> Layout:
    """The running hub's settings: from the effective configuration `campushub up` wrote, never campus.yaml."""
    return apply_config(c, read_snapshot(snapshot))


def apply_settings(c: Config, campus_yaml: str | Path) -> None:
    """For a command that sets up a hub object of its own beside no running hub (`campushub token`)."""
    apply_config(c, load_config(campus_yaml).config)
