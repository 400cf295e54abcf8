"""The only place that writes to a traitlets config object."""

from __future__ import annotations

import os
from pathlib import Path

from traitlets.config import Config

from campushub.config.loader import load_config, override_listen
from campushub.config.schema import CampusConfig
from campushub.hub.settings import hub_settings, layout_for

LISTEN_IP_ENV = "CAMPUSHUB_LISTEN_IP"
LISTEN_PORT_ENV = "CAMPUSHUB_LISTEN_PORT"


def effective_config(campus_yaml: str | Path) -> CampusConfig:
    """campus.yaml plus the `up --ip/--port` overrides handed down in the environment."""
    port = os.environ.get(LISTEN_PORT_ENV)
    return override_listen(load_config(campus_yaml).config, os.environ.get(LISTEN_IP_ENV), int(port) if port else None)


def apply_settings(c: Config, campus_yaml: str | Path) -> None:
    config = effective_config(campus_yaml)
    for section, values in hub_settings(config, layout_for(config)).items():
        for trait, value in values.items():
            setattr(c[section], trait, value)
