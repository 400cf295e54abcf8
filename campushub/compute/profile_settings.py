"""`compute.profiles` -> the hub's spawner settings: one small pure mapping, unit-tested without a hub.

Without profiles, `compute.backend`'s own settings are the hub's. With profiles, the spawner is
CampusProfilesSpawner, and the settings of every backend a profile runs on are merged (each backend
sets its own spawner class's traits, so they sit side by side); each profile becomes an Offer that
carries its backend's spawner class and the traits choosing it sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from campushub.compute.backend import ComputeBackend, backend_for
from campushub.compute.profiles import Offer, hub_groups, summary
from campushub.hub.merge import Settings, merge_settings
from campushub.plugins import compute_backend_types

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

PROFILES_SPAWNER = "campushub.compute.profile_spawner.CampusProfilesSpawner"


def backends_in_use(config: CampusConfig) -> list[ComputeBackend]:
    """`compute.backend` first, then each other backend a profile runs on, in campus.yaml's order."""
    names = [config.compute.backend]
    for profile in config.compute.profiles.values():
        if profile.backend and profile.backend not in names:
            names.append(profile.backend)
    types = compute_backend_types()
    return [types[name]() for name in names]


def offers(config: CampusConfig, layout: Layout) -> list[Offer]:
    types = compute_backend_types()
    found = []
    for slug, profile in config.compute.profiles.items():
        backend = types[profile.backend or config.compute.backend]()
        found.append(
            Offer(
                slug=slug,
                title=profile.title,
                description=profile.description,
                summary=summary(profile),
                spawner_class=backend.spawner_class,
                overrides=backend.profile_settings(config, layout, profile),
                groups=hub_groups(profile),
            )
        )
    return found


def without_spawner_class(settings: Settings) -> Settings:
    trimmed = {section: dict(values) for section, values in settings.items()}
    trimmed.get("JupyterHub", {}).pop("spawner_class", None)
    return {section: values for section, values in trimmed.items() if values}


def compute_settings(config: CampusConfig, layout: Layout) -> Settings:
    """The spawner and its traits: the backend's alone, or every backend in use behind the profiles spawner."""
    if not config.compute.profiles:
        return backend_for(config).hub_settings(config, layout)
    parts = [
        (f"the {backend.name} backend", without_spawner_class(backend.hub_settings(config, layout)))
        for backend in backends_in_use(config)
    ]
    profiles: Settings = {
        "JupyterHub": {"spawner_class": PROFILES_SPAWNER},
        "CampusProfilesSpawner": {
            "plain_spawner_class": backend_for(config).spawner_class,
            "profiles": [offer.as_trait() for offer in offers(config, layout)],
            "course_defaults": {
                course_id: course.profile for course_id, course in config.courses.items() if course.profile
            },
            "course_members": {course_id: list(course.members) for course_id, course in config.courses.items()},
        },
    }
    return merge_settings([*parts, ("profiles", profiles)])
