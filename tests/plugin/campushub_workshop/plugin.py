"""The plug-in's registration: the only module CampusHub loads by entry point."""

from __future__ import annotations

from campushub.plugins import hookimpl
from campushub_workshop.backend import WorkshopBackend
from campushub_workshop.method import WorkshopMethod


@hookimpl
def campushub_sign_in_methods() -> list[type]:
    return [WorkshopMethod]


@hookimpl
def campushub_compute_backends() -> list[type]:
    return [WorkshopBackend]


@hookimpl
def campushub_hub_settings(config, layout) -> dict:
    """Workshop servers may be slow to answer on a laptop: a longer wait, only where a workshop is configured."""
    return {"Spawner": {"http_timeout": 120}} if config.sign_in.of_type("workshop") else {}
