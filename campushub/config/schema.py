"""The campus.yaml schema.

Every key an admin can write lives here, with its description: the config
reference in docs/ is generated from these models, so the documentation
cannot drift from what the loader accepts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from campushub.compute.config import Compute
from campushub.config.sections import AdminEntry, Duration, ProblemAt, Section, Username
from campushub.config.sign_in import SignIn
from campushub.environments.config import Environments
from campushub.library.config import Library


class Listen(Section):
    """Where people reach CampusHub."""

    ip: str = Field("127.0.0.1", description="Address the public proxy listens on. `0.0.0.0` for all interfaces.")
    port: int = Field(8000, ge=1, le=65535, description="Port the public proxy listens on.")
    tls_cert: Path | None = Field(
        None, description="PEM certificate (full chain) to serve HTTPS directly. Needs `tls_key`."
    )
    tls_key: Path | None = Field(None, description="PEM private key for `tls_cert`.")
    public_url: str | None = Field(
        None,
        description=(
            "The URL people type, when CampusHub runs behind a TLS-terminating reverse proxy, "
            "e.g. `https://notebooks.example.edu/` (a host of its own, no sub-path). Used in printed links."
        ),
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="IP addresses of reverse proxies in front of CampusHub whose X-Forwarded-For is trusted.",
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Listen:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("`tls_cert` and `tls_key` must be given together")
        if self.public_url is not None and not re.match(r"^https?://[^/\s]+/?$", self.public_url):
            raise ValueError(
                "`public_url` must be a scheme and host such as https://notebooks.example.edu/ "
                "(CampusHub is served at the root of its own host name, not under a sub-path)"
            )
        return self


class Database(Section):
    """The hub database: accounts, servers, tokens."""

    url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the hub database. Empty: SQLite at `<data_dir>/campushub.sqlite`. "
            "For PostgreSQL: `postgresql://user:password@host/dbname`."
        ),
    )


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Meeting(Section):
    """A weekly meeting of a course (lecture, lab), in the hub machine's local time."""

    days: list[Weekday] = Field(min_length=1, description="Weekdays it meets: `mon` ... `sun`.")
    start: ClockTime = Field(description="Start, `HH:MM` (24-hour, the hub machine's local time).")
    end: ClockTime = Field(description="End, `HH:MM`, later the same day.")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Meeting:
        if self.end <= self.start:
            raise ValueError(f"`end` ({self.end}) must be later than `start` ({self.start}) on the same day")
        return self


class Course(Section):
    """A course: who is in it, and when it meets (servers are started for its students before each meeting)."""

    title: str = Field("", description="Its name as people know it.")
    members: list[Username] = Field(default_factory=list, description="Usernames of its students and staff.")
    groups: list[str] = Field(
        default_factory=list,
        description="Groups whose members are in it: CampusHub groups, and the directory's own groups (nested ones "
        "too) when `sign_in.ldap` has `search` and `groups_base`, so people who never signed in are warmed too.",
    )
    meetings: list[Meeting] = Field(default_factory=list, description="When it meets, every week.")
    warm_before: Duration = Field(
        600, ge=0, description="Start its students' servers this long before each meeting (seconds, or '10m')."
    )
    release_after: Duration = Field(
        900,
        ge=0,
        description="This long after a meeting ends, stop the servers started for it that nobody used.",
    )
    profile: str | None = Field(
        None,
        description="The profile (a name under `compute.profiles`) preselected for its members and used when their "
        "servers are started for a meeting. Empty: the first profile each member may use.",
    )


class CampusConfig(Section):
    """One institution's CampusHub."""

    name: str = Field("CampusHub", min_length=1, max_length=80, description="Institution name shown on every page.")
    listen: Listen = Field(default_factory=Listen, description="Where people reach CampusHub.")
    data_dir: Path = Field(
        Path("data"),
        description="Where CampusHub keeps its database, secrets, logs and (personal mode) users' files. "
        "Relative paths are relative to the campus.yaml file.",
    )
    database: Database = Field(default_factory=Database, description="The hub database.")
    sign_in: SignIn = Field(default_factory=SignIn, description="How people sign in.")
    admins: list[AdminEntry] = Field(
        default_factory=list,
        description="Usernames with full admin rights, granted at sign-in and at every start (a name taken off "
        "the list loses them at the next start). `name` counts through any method whose usernames the campus "
        "assigns (built-in accounts, the directory, OpenID providers, not GitHub); `method:name` (`ldap:prof.x`, "
        "`gh:carol`) only through that method, and no other method may then claim the name. Being listed never "
        "lets anyone past a method's own rules (groups, organisations, `hd`, tenant).",
    )
    compute: Compute = Field(default_factory=Compute, description="Where notebook servers run.")
    courses: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")], Course] = Field(
        default_factory=dict,
        description="Courses by a short ID of your choice (`phys101`), used by `campushub courses warm ID`.",
    )
    library: Library = Field(default_factory=Library, description="The public library of published projects.")
    environments: Environments = Field(
        default_factory=Environments,
        description="Kernels built from a launched repository's requirements, shared by everyone who launches it.",
    )

    @field_validator("courses")
    @classmethod
    def _course_profiles_exist(cls, courses: dict[str, Course], info: ValidationInfo) -> dict[str, Course]:
        compute = info.data.get("compute")
        if compute is None:
            return courses  # compute itself is wrong: that error is reported instead
        for course_id, course in courses.items():
            if course.profile is None:
                continue
            profile = compute.profiles.get(course.profile)
            if profile is None:
                known = ", ".join(compute.profiles) or "none are configured"
                raise ProblemAt(
                    (course_id, "profile"),
                    f"course `{course_id}` has `profile: {course.profile}`, which is not under `compute.profiles` "
                    f"({known})",
                )
            if profile.restricted and course_id not in profile.courses:
                raise ProblemAt(
                    (course_id, "profile"),
                    f"course `{course_id}` has `profile: {course.profile}`, but that profile is limited to "
                    f"{'groups ' + ', '.join(profile.groups) if profile.groups else 'other courses'}: add "
                    f"`{course_id}` to its `courses`, so that the course's members may use it",
                )
        return courses

    @model_validator(mode="after")
    def _profile_courses_exist(self) -> CampusConfig:
        for slug, profile in self.compute.profiles.items():
            unknown = [course for course in profile.courses if course not in self.courses]
            if unknown:
                raise ProblemAt(
                    ("compute", "profiles", slug, "courses"),
                    f"`compute.profiles.{slug}.courses` names {', '.join(f'`{c}`' for c in unknown)}, which "
                    f"{'is not a course' if len(unknown) == 1 else 'are not courses'} under `courses:`",
                )
        return self

    @model_validator(mode="after")
    def _lti_courses_exist(self) -> CampusConfig:
        for name, platform in self.sign_in.of_type("lti").items():
            unknown = sorted(set(platform.courses.values()) - set(self.courses))
            if unknown:
                raise ProblemAt(
                    ("sign_in", "lti", name, "courses"),
                    f"`sign_in.lti.{name}.courses` maps LMS courses to {', '.join(f'`{c}`' for c in unknown)}, "
                    "which campus.yaml's `courses:` does not define: add them there, or drop them from the mapping",
                )
        return self

    @field_validator("admins")
    @classmethod
    def _admin_methods_exist(cls, admins: list[str], info: ValidationInfo) -> list[str]:
        sign_in = info.data.get("sign_in")
        if sign_in is None:
            return admins  # sign_in itself is wrong: that error is reported instead
        for entry in admins:
            method = entry.rpartition(":")[0]
            if method and method not in sign_in.methods:
                raise ValueError(
                    f"{entry!r} names the sign-in method {method!r}, which is not configured "
                    f"(methods here: {', '.join(sign_in.methods)})"
                )
        return admins

    @property
    def admin_entries(self) -> list[tuple[str, str | None]]:
        """(name, owning method or None) for each entry of `admins`."""
        entries = []
        for entry in self.admins:
            method, _, name = entry.rpartition(":")
            entries.append((name, method or None))
        return entries

    @property
    def admin_names(self) -> set[str]:
        return {name for name, _ in self.admin_entries}
