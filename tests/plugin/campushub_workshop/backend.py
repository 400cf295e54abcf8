"""The `workshop` compute backend: CampusHub's local processes, with a banner every server shows.

A workshop runs on the machine CampusHub runs on; what it adds is a greeting in each server's
environment (a notebook reads `WORKSHOP_BANNER`). Building on the local backend keeps accounts,
isolation, fast spawn and the start line as they are: one subclass, one section, one registration.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from campushub.compute.backends.local import LocalBackend, LocalCompute


class WorkshopCompute(LocalCompute):
    """Workshop servers: local processes, with the workshop's banner in each server's environment."""

    banner: str = Field("Welcome to the workshop", description="Shown to participants as WORKSHOP_BANNER.")


class WorkshopBackend(LocalBackend):
    """Everything of the local backend, reading its settings from `compute.workshop` (the base class's `section`)."""

    name = "workshop"
    config_model = WorkshopCompute

    def hub_settings(self, config: Any, layout: Any) -> dict[str, dict[str, Any]]:
        settings = super().hub_settings(config, layout)
        spawner = settings["Spawner"]
        spawner["environment"] = {**spawner["environment"], "WORKSHOP_BANNER": self.section(config).banner}
        return settings
