"""What a compute backend is to CampusHub: one interface every backend implements.

A backend decides where users' servers run (processes on this machine today; a batch system or a
cluster in a plug-in). `compute.backend` in campus.yaml names one; its own settings are the
`compute.<name>` section. The hub's settings, `campushub up` and `campushub check` ask the chosen
backend through this interface, never by its name, so a new backend is one module plus one
registration (campushub.plugins) and nothing outside it says "local".
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from campushub.config.sections import Section
from campushub.hub.merge import Settings
from campushub.plugins import compute_backend_types

if TYPE_CHECKING:
    from campushub.compute.profiles import Profile
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout


@dataclass(frozen=True)
class Probe:
    """One thing `campushub check` and `up`'s preflight tried, and what is wrong with it (None: nothing)."""

    name: str
    problem: str | None
    security: bool = False  # a hole rather than a mistake: `check` exits 2, `up` reports it first


@dataclass(frozen=True)
class BesideHub:
    """A process `campushub up` runs beside the hub: started before it, stopped after it.

    Its output joins the hub's (masked, teed to the console and campushub.log). `remove_first`
    are leftovers of an earlier run it would trip over, such as a socket it is about to bind.
    """

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    remove_first: tuple[Path, ...] = ()


LIMIT_KEYS = ("memory_limit", "cpu_limit", "process_limit")


@dataclass(frozen=True)
class WorkspaceAccount:
    """A person's system account as their server uses it: made at the first start if need be, as the spawner would."""

    account: str
    home: Path
    adopt: tuple[str, ...] = ()


class ComputeBackend(ABC):
    """One way of running users' servers. Subclasses set the class attributes and implement `hub_settings`.

    Instances are stateless: everything they need comes from the configuration and layout each
    method is given, so the hub, `up` and `check` may each make their own.
    """

    name: ClassVar[str]
    """The value of `compute.backend` that chooses it, and the key of its section under `compute:`."""
    config_model: ClassVar[type[Section]]
    """Its `compute.<name>` section; the docstring and field descriptions are the docs."""
    summary: ClassVar[str] = ""
    """A few words for the `compute.backend` description, e.g. "processes on this machine"."""
    spawner_class: ClassVar[str]
    """The import path of the Spawner that runs its servers (a profile on this backend starts one)."""
    profile_keys: ClassVar[frozenset[str]] = frozenset()
    """The profile keys (compute/profiles.py) this backend acts on; a profile setting any other is refused."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A backend that forgets a required attribute fails when it is defined, not when the hub starts."""
        super().__init_subclass__(**kwargs)
        if inspect.isabstract(cls):
            return
        missing = [name for name in ("name", "config_model", "spawner_class") if not hasattr(cls, name)]
        if missing:
            raise TypeError(f"compute backend {cls.__name__} must set {', '.join(missing)}")
        if not (isinstance(cls.config_model, type) and issubclass(cls.config_model, Section)):
            raise TypeError(f"compute backend {cls.__name__}: config_model must be a Section subclass")

    def section(self, config: CampusConfig) -> Any:
        """This backend's `compute.<name>` settings."""
        return getattr(config.compute, self.name)

    @abstractmethod
    def hub_settings(self, config: CampusConfig, layout: Layout) -> Settings:
        """The spawner class and its traits, `{Class: {trait: value}}`, merged into the hub's settings."""

    def probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """What can be found out before the hub starts (accounts, environments, a scheduler's reachability)."""
        return []

    def processes(self, config: CampusConfig, layout: Layout) -> list[BesideHub]:
        """Processes `up` runs beside the hub for this backend (a fork server, an agent); usually none."""
        return []

    def limit_probes(self, config: CampusConfig, layout: Layout) -> list[Probe]:
        """How `compute.memory_limit`, `cpu_limit` and `process_limit` are enforced. A backend that enforces
        them overrides this; by default a configured limit is a problem, so that `up` never ignores one."""
        configured = [key for key in LIMIT_KEYS if getattr(config.compute, key, None) is not None]
        return [
            Probe(
                f"compute.{key}",
                f"`compute.{key}` is set, but the `{self.name}` backend does not enforce limits: remove it from "
                "campus.yaml, or choose a backend that does.",
            )
            for key in configured
        ]

    def workspace_account(self, config: CampusConfig, layout: Layout, name: str) -> WorkspaceAccount | None:
        """The system account on this machine whose home is `name`'s workspace, for CampusHub to put files in
        as that account (a copy from the library). None, the default: their files live elsewhere (a cluster's
        shared file system, a pod's volume), and such features offer a download instead."""
        return None

    def profile_settings(self, config: CampusConfig, layout: Layout, profile: Profile) -> dict[str, Any]:
        """The traits of `spawner_class` that choosing `profile` sets (its resources, image, queue).

        Only the keys in `profile_keys` reach here set; the rest of the spawner's settings come from
        `hub_settings`, which the hub applies to every spawner whatever the profile.
        """
        return {}


def backend_for(config: CampusConfig) -> ComputeBackend:
    """The backend `compute.backend` names (the schema has already checked that it is registered)."""
    return compute_backend_types()[config.compute.backend]()
