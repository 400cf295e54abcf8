"""Profiles: the named choices a person makes when starting a server ("Standard", "Big memory", "GPU").

A profile says where the server runs (which compute backend) and with what (environment or image,
CPU, memory, GPUs, a time limit, a Slurm partition), and who may see it (groups, courses). The hub
offers each person only the profiles they may use and checks the choice again on every start, so a
forged form or API call cannot ask for a hidden profile, another image or more memory.

Everything here is pure: the schema, and the functions the spawner (compute/profile_spawner.py)
calls with a person's groups. No hub, no disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from campushub.config.sections import Duration, Section, Size
from campushub.identity.groups import course_group

PROFILE_SLUG = r"^[a-z0-9][a-z0-9_-]{0,31}$"
ProfileSlug = Annotated[str, StringConstraints(pattern=PROFILE_SLUG)]

# Keys every profile may have, whatever runs it; the rest are the backend's (ComputeBackend.profile_keys).
COMMON_KEYS = frozenset({"title", "description", "backend", "groups", "courses"})


class Profile(Section):
    """A named choice on the start page: where a server runs and with what, and who may choose it."""

    title: str = Field(min_length=1, max_length=80, description="What people see, e.g. `Standard (1 core, 2 GB)`.")
    description: str = Field("", max_length=400, description="A sentence under the title: what it is for.")
    backend: str | None = Field(
        None, description="The compute backend that runs it (`local`, `slurm`, ...). Empty: `compute.backend`."
    )
    environment: Path | None = Field(
        None,
        description="Prefix of the Python environment its servers run in (with `bin/jupyterhub-singleuser`). "
        "Empty: `compute.environment`.",
    )
    image: str | None = Field(None, description="The container image its servers run in (container backends).")
    cpu: float | None = Field(
        None, gt=0, description="CPU cores its servers may keep busy. Empty: `compute.cpu_limit`."
    )
    memory: Size | None = Field(
        None, ge=64 << 20, description="Memory its servers may use, e.g. `4G`. Empty: `compute.memory_limit`."
    )
    gpus: int = Field(0, ge=0, le=64, description="GPUs given to each of its servers (backends that have them).")
    time_limit: Duration | None = Field(
        None, ge=60, description="The longest one of its servers may run (`8h`); the scheduler ends it then."
    )
    partition: str | None = Field(None, description="Slurm partition its jobs go to. Empty: the cluster's default.")
    account: str | None = Field(None, description="Slurm account its jobs are charged to.")
    qos: str | None = Field(None, description="Slurm quality of service of its jobs.")
    groups: list[str] = Field(
        default_factory=list,
        description="Only members of these groups may see and choose it (admins always may). With neither `groups` "
        "nor `courses`, everyone may.",
    )
    courses: list[str] = Field(
        default_factory=list, description="Only members of these courses (IDs under `courses:`) may see and choose it."
    )

    @model_validator(mode="after")
    def _image_or_environment(self) -> Profile:
        if self.image is not None and self.environment is not None:
            raise ValueError("give a profile either `image` (containers) or `environment` (processes), not both")
        return self

    @property
    def restricted(self) -> bool:
        return bool(self.groups or self.courses)

    def set_keys(self) -> set[str]:
        """The keys written for this profile (or set to other than their default)."""
        return {key for key in self.model_fields_set if getattr(self, key) != type(self).model_fields[key].default}


def unsupported_keys(profile: Profile, supported: Iterable[str]) -> list[str]:
    """Keys of `profile` its backend does nothing with: an error, never silently ignored."""
    return sorted(profile.set_keys() - COMMON_KEYS - set(supported))


@dataclass(frozen=True)
class Offer:
    """One profile as the hub holds it: who may see it and what choosing it sets on the spawner."""

    slug: str
    title: str
    description: str
    summary: str
    spawner_class: str
    overrides: Mapping[str, Any]
    groups: tuple[str, ...]  # hub groups (course members are in `course:<id>`); empty: everyone

    def visible_to(self, groups: Iterable[str], admin: bool = False) -> bool:
        return admin or not self.groups or bool(set(self.groups) & set(groups))

    def as_trait(self) -> dict[str, Any]:
        """For the spawner's `profiles` trait (plain data: the hub's settings are JSON-shaped)."""
        return {
            "slug": self.slug,
            "title": self.title,
            "description": self.description,
            "summary": self.summary,
            "spawner_class": self.spawner_class,
            "overrides": dict(self.overrides),
            "groups": list(self.groups),
        }

    @classmethod
    def from_trait(cls, data: Mapping[str, Any]) -> Offer:
        return cls(
            slug=data["slug"],
            title=data["title"],
            description=data.get("description", ""),
            summary=data.get("summary", ""),
            spawner_class=data["spawner_class"],
            overrides=dict(data.get("overrides", {})),
            groups=tuple(data.get("groups", ())),
        )


def hub_groups(profile: Profile) -> tuple[str, ...]:
    """The hub groups whose members may use `profile`: its groups, and its courses' `course:<id>` groups."""
    return (*profile.groups, *(course_group(course) for course in profile.courses))


def summary(profile: Profile) -> str:
    """ "2 cores · 4 GiB · 1 GPU · up to 8 h": what the profile gives, in a line."""
    parts = []
    if profile.cpu is not None:
        parts.append(f"{profile.cpu:g} core{'s' if profile.cpu != 1 else ''}")
    if profile.memory is not None:
        parts.append(_size(profile.memory))
    if profile.gpus:
        parts.append(f"{profile.gpus} GPU{'s' if profile.gpus > 1 else ''}")
    if profile.time_limit is not None:
        parts.append(f"up to {_duration(profile.time_limit)}")
    return " · ".join(parts)


def _size(value: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value} bytes"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class ProfileRefused(Exception):
    """A start asked for something the person may not have; the message says what and what they may choose."""


def visible(offers: Sequence[Offer], groups: Iterable[str], admin: bool = False) -> list[Offer]:
    groups = set(groups)
    return [offer for offer in offers if offer.visible_to(groups, admin)]


def default_offer(
    offers: Sequence[Offer], groups: Iterable[str], course_defaults: Mapping[str, str], admin: bool = False
) -> Offer | None:
    """The profile preselected for a person: their first course's default (by course ID), else the first they see."""
    groups = set(groups)
    mine = visible(offers, groups, admin)
    by_slug = {offer.slug: offer for offer in mine}
    for course in sorted(course_defaults):
        if course_group(course) in groups and course_defaults[course] in by_slug:
            return by_slug[course_defaults[course]]
    return mine[0] if mine else None


def choose(
    offers: Sequence[Offer],
    user_options: Mapping[str, Any],
    groups: Iterable[str],
    course_defaults: Mapping[str, str],
    admin: bool = False,
) -> Offer:
    """The profile a start gets, after checking the request; ProfileRefused says why not.

    Only `profile` may be asked for: everything else (image, memory, GPUs) comes from the profile, so a
    request that names anything else is refused, not quietly trimmed.
    """
    mine = visible(offers, groups, admin)
    names = ", ".join(f"`{offer.slug}`" for offer in mine) or "none"
    extra = sorted(set(user_options) - {"profile"})
    if extra:
        raise ProfileRefused(
            f"A server start takes only a profile; {', '.join(f'`{key}`' for key in extra)} cannot be asked for. "
            f"Choose one of the profiles available to you: {names}."
        )
    asked = user_options.get("profile")
    if asked in (None, ""):
        chosen = default_offer(offers, groups, course_defaults, admin)
        if chosen is None:
            raise ProfileRefused(
                "No profile is available to you, so no server can start. Ask an admin of this site to add you "
                "to a course or group that has one."
            )
        return chosen
    if not isinstance(asked, str):
        raise ProfileRefused(f"`profile` must be the name of one profile. Profiles available to you: {names}.")
    for offer in mine:
        if offer.slug == asked:
            return offer
    raise ProfileRefused(f"There is no profile `{asked[:40]}` you may use. Profiles available to you: {names}.")
