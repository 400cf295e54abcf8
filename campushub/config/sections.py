"""Building blocks of the campus.yaml schema that every section uses, CampusHub's or a plug-in's.

Kept apart from `schema.py` so that a sign-in method or compute backend module can define its own
section without importing the whole schema (which is assembled from the registered types).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    StringConstraints,
    Tag,
    model_validator,
)

from campushub.identity.usernames import normalize_username

METHOD_ID = r"^[a-z][a-z0-9-]{0,31}$"
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> object:
    """Accept `90`, `"90s"`, `"30m"`, `"2h"`, `"1d"`; campus admins think in minutes, not seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError("expected a duration such as 900, '15m', '2h' or '1d'")
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


Duration = Annotated[int, BeforeValidator(parse_duration)]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT])?(?:i?B)?\s*$", re.IGNORECASE)
_UNIT_BYTES = {None: 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value: object) -> object:
    """Accept `536870912`, `"512M"`, `"2G"`, `"1.5GiB"`: K, M, G and T are powers of 1024, as in JupyterHub."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise ValueError("expected a size such as '512M', '2G' or '1.5G' (K, M, G, T: powers of 1024)")
        unit = match.group(2).upper() if match.group(2) else None
        return int(float(match.group(1)) * _UNIT_BYTES[unit])
    return value


Size = Annotated[int, BeforeValidator(parse_size)]


class ProblemAt(ValueError):
    """A validator's error about a key below the one it validates: `at` is the rest of the key's path, so that
    the loader names that key and its line (`compute.profiles.gpu.partition`), not the whole section."""

    def __init__(self, at: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.at = at


Username = Annotated[str, AfterValidator(normalize_username)]


def parse_admin_entry(value: str) -> str:
    """`prof.x` or `ldap:prof.x` (only the `ldap` method's prof.x), normalised; the method is checked later."""
    method, colon, name = value.strip().rpartition(":")
    if colon and not re.match(METHOD_ID, method):
        raise ValueError(f"{value!r}: write `name` or `method:name`, e.g. `ldap:prof.x`")
    name = normalize_username(name)
    return f"{method}:{name}" if colon else name


AdminEntry = Annotated[str, AfterValidator(parse_admin_entry)]


class Section(BaseModel):
    """Base for every section: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_values_take_defaults(cls, data: object) -> object:
        # `database:` or `admins:` with only comments under it is YAML null: it means "the default".
        if isinstance(data, dict):
            return {
                key: value
                for key, value in data.items()
                if not (value is None and key in cls.model_fields and cls.model_fields[key].default is not None)
            }
        return data


MethodName = Annotated[str, StringConstraints(pattern=METHOD_ID)]
# Tags of the two forms a one-or-many section may take; the loader leaves them out of key paths.
SINGLE_FORM = "single section"
NAMED_FORM = "named sections"
FORM_TAGS = (SINGLE_FORM, NAMED_FORM)


def one_or_many(model: type[Section]) -> Any:
    """`key: {section}` (one instance, named after the key) or `key: {name: {section}, other: {section}}`.

    The first form is told apart by its own keys: a mapping that uses any key of the section is one
    section; a mapping of names to mappings is several (a name may not be one of the section's keys).
    """

    def form(value: Any) -> str:
        named = isinstance(value, dict) and value and not set(value) & set(model.model_fields)
        if named and all(isinstance(item, dict | model) or item is None for item in value.values()):
            return NAMED_FORM
        return SINGLE_FORM

    return Annotated[
        Annotated[model, Tag(SINGLE_FORM)] | Annotated[dict[MethodName, model], Tag(NAMED_FORM)],
        Discriminator(form),
    ]
