"""The `compute:` section of campus.yaml: where notebook servers run.

`backend` names one of the registered compute backends (campushub.plugins.compute_backend_types);
each registered backend adds its own section under `compute:`, keyed by its name and validated by
its `config_model`, the way `sign_in:` is assembled from the sign-in method types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, create_model, field_validator, model_validator

from campushub.compute.backend import ComputeBackend
from campushub.compute.profiles import Profile, ProfileSlug, unsupported_keys
from campushub.config.sections import Duration, ProblemAt, Section, Size
from campushub.plugins import compute_backend_types

DEFAULT_BACKEND = "local"


class ComputeBase(Section):
    """Where notebook servers run."""

    backend: str = Field(DEFAULT_BACKEND, description="The compute backend that runs users' servers.")
    idle_timeout: Duration = Field(
        3600,
        ge=30,
        description=(
            "Stop a server after this long without activity (seconds, or '30m', '2h'). "
            "Open notebooks and running kernels count as activity. 0 is not allowed: set a long value instead."
        ),
    )
    environment: Path | None = Field(
        None,
        description=(
            "Prefix of the Python environment users' servers run in (it must contain `bin/jupyterhub-singleuser`). "
            "Empty: the environment CampusHub itself is installed in."
        ),
    )

    memory_limit: Size | None = Field(
        None,
        ge=64 << 20,
        description="The most memory one user's server and everything it starts (kernels, terminals) may use "
        "together, e.g. `2G` or `512M` (powers of 1024). A kernel that goes past it is stopped and the user sees "
        "why in JupyterLab; the server and the machine carry on. Empty: no limit. `campushub up` refuses a limit "
        "this machine cannot enforce (`campushub check` says which it can).",
    )
    cpu_limit: float | None = Field(
        None,
        gt=0,
        description="How many CPU cores one user's server and its kernels may keep busy at most; fractions "
        "allowed (`0.5`, `2`). Empty: no limit.",
    )
    process_limit: int | None = Field(
        None,
        ge=32,
        description="The most processes and threads one user's server and everything it starts may have at once "
        "(a fork bomb stops there). A server with a few kernels uses about 50. Empty: no limit.",
    )
    max_servers: int | None = Field(
        None,
        ge=1,
        description="The most users' servers that may run (or be starting) at once; a student over it is told the "
        "site is full and to try again shortly. Empty: no limit.",
    )
    min_free_memory: Size = Field(
        512 << 20,
        ge=0,
        description="A server starts only while the machine has at least this much memory available, or "
        "`memory_limit` if that is larger; otherwise the student is told the machine is busy and to try again "
        "shortly, instead of a start that would push the machine into swapping. 0: no check.",
    )

    profiles: dict[ProfileSlug, Profile] = Field(
        default_factory=dict,
        description="Choices offered when a server starts, by a short name of your choice (`standard`, `gpu`): "
        "where it runs and with what, and who may choose it. Each person sees only the profiles they may use, "
        "preselected with their course's `profile`; a start that asks for any other is refused. Empty: servers "
        "start without asking, on `compute.backend` with the limits above.",
    )

    @field_validator("backend", mode="before")
    @classmethod
    def _backend_is_registered(cls, value: object) -> object:
        # Before the type's own check, so that the message names every backend a plug-in may have added.
        registered = compute_backend_types()
        if isinstance(value, str) and value not in registered:
            raise ValueError(
                f"there is no compute backend {value!r}; the registered ones are {', '.join(registered)} "
                "(a plug-in package adds others)"
            )
        return value

    @model_validator(mode="after")
    def _chosen_backend_is_configured(self) -> ComputeBase:
        if getattr(self, self.backend, None) is None:
            raise ValueError(
                f"`compute.backend` is {self.backend!r}: its settings, `compute.{self.backend}`, are missing"
            )
        return self

    @model_validator(mode="after")
    def _profiles_fit_their_backends(self) -> ComputeBase:
        registered = compute_backend_types()
        for slug, profile in self.profiles.items():
            where = f"profile `{slug}`"
            if profile.backend is None:
                profile.backend = self.backend
            elif profile.backend not in registered:
                raise ProblemAt(
                    ("profiles", slug, "backend"),
                    f"there is no compute backend {profile.backend!r}; the registered ones are {', '.join(registered)}",
                )
            elif getattr(self, profile.backend, None) is None:
                raise ProblemAt(
                    ("profiles", slug, "backend"),
                    f"{where} runs on `{profile.backend}`, whose settings, `compute.{profile.backend}`, are missing",
                )
            backend = registered[profile.backend]
            unused = unsupported_keys(profile, backend.profile_keys)
            if unused:
                raise ProblemAt(
                    ("profiles", slug, unused[0]),
                    f"{where} runs on the `{profile.backend}` backend, which has no use for "
                    f"{', '.join(f'`{key}`' for key in unused)}: remove {'it' if len(unused) == 1 else 'them'}, or "
                    f"give the profile a backend that has (`backend:`)",
                )
        return self


def backend_choice() -> tuple[Any, Any]:
    """The `compute.backend` field: one of the registered names, each described by its backend's summary."""
    types = compute_backend_types()
    description = "; ".join(f"`{name}`: {cls.summary}" if cls.summary else f"`{name}`" for name, cls in types.items())
    return Literal[tuple(types)], Field(DEFAULT_BACKEND, description=description + ".")


def backend_field(cls: type[ComputeBackend]) -> tuple[Any, Any]:
    """The `compute.<name>` field of one backend: present with its defaults when it has them, else only if written."""
    model = cls.config_model
    description = f"Settings of the `{cls.name}` backend."
    if any(field.is_required() for field in model.model_fields.values()):
        return model | None, Field(None, description=description)
    return model, Field(default_factory=model, description=description)


def build_compute_model() -> type[ComputeBase]:
    types = compute_backend_types()
    fields = {name: backend_field(cls) for name, cls in types.items()}
    clash = sorted(set(fields) & set(ComputeBase.model_fields))
    if clash:
        raise RuntimeError(f"compute backends may not be named {', '.join(clash)}: those are compute keys")
    return create_model(
        "Compute", __base__=ComputeBase, __doc__=ComputeBase.__doc__, backend=backend_choice(), **fields
    )


Compute = build_compute_model()
