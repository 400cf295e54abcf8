"""The campus.yaml reference (docs/config-reference.md), generated from the schema.

The schema's models are the single source of truth for what the loader
accepts, so the reference is rendered from them rather than written by hand:
a key, default or limit changed in schema.py shows up in the docs with
`make docs`, and `make test` fails (`--check`) when someone forgets.

    python -m campushub.config.reference docs/config-reference.md          # write
    python -m campushub.config.reference --check docs/config-reference.md  # exit 1 if stale

Every function below is pure (models in, text out) except `main`, so the
rendering can be tested without touching the disk.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from campushub.config.schema import CampusConfig
from campushub.config.sections import parse_duration, parse_size
from campushub.generated_docs import generated_page_main

# Relative to docs/, where the reference lives, so the link works on any forge and in a checkout.
EXAMPLE_LINK = "../campushub/config/campus.example.yaml"

_HEADER = """\
<!-- Generated from campushub/config/schema.py by `make docs`. Edit the schema, not this file. -->

# campus.yaml reference

Every key CampusHub accepts in `campus.yaml`, generated from the schema the loader validates against.
An annotated example is in [campus.example.yaml]({example}) (also at `examples/campus.yaml`);
`campushub init` writes a copy of it.

- Every key is optional: a key that is not written takes the default shown here.
- A section with nothing under it (only comments, or empty) takes its defaults.
- An unknown key is an error, never silently ignored; the error names the file, the line and, for typos, the key
  you probably meant.
- A duration is a whole number of seconds, or a whole number followed by `s`, `m`, `h` or `d`:
  `900`, `'15m'`, `'2h'`, `'1d'`.
- A size is a number of bytes, or a number followed by `K`, `M`, `G` or `T` (powers of 1024): `512M`, `2G`, `1.5G`.
- `campushub check` validates a file, prints the effective configuration and probes ports, directories and the
  user environment.
"""


@dataclass(frozen=True)
class Key:
    """One key of campus.yaml: its dotted path and the pydantic field behind it."""

    path: str
    field: FieldInfo

    @property
    def is_section(self) -> bool:
        return section_model(self.field.annotation) is not None


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The model a key holds when the key is a section (a mapping of further keys), else None.

    An optional section (`X | None`, e.g. a sign-in method that is off unless written) is still a section.
    """
    annotation, _ = without_none(annotation)
    single = one_or_many_model(annotation)
    if single is not None:
        return single
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is dict:
        value = typing.get_args(annotation)[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value
    return None


def one_or_many_model(annotation: Any) -> type[BaseModel] | None:
    """The section of a key that is one section or several by name (`sign_in.ldap`), else None."""
    inner = strip_annotated(without_none(annotation)[0])
    if typing.get_origin(inner) not in (types.UnionType, typing.Union):
        return None
    forms = [strip_annotated(arg) for arg in typing.get_args(inner)]
    models = [form for form in forms if isinstance(form, type) and issubclass(form, BaseModel)]
    named = [form for form in forms if typing.get_origin(form) is dict]
    return models[0] if len(models) == 1 and len(named) == 1 else None


def is_named_sections(annotation: Any) -> bool:
    """`dict[str, Section]`: sections under names the admin chooses (`sign_in.oidc.<name>`)."""
    return typing.get_origin(without_none(annotation)[0]) is dict


def section_path(key: Key) -> str:
    """Where a section's own keys live: `sign_in.oidc.<name>` for named sections, else the key's path."""
    return f"{key.path}.<name>" if is_named_sections(key.field.annotation) else key.path


def walk(model: type[BaseModel], prefix: str = "") -> Iterator[Key]:
    """Every key under `model`, depth first in schema order, sections before the keys inside them."""
    for name, field in model.model_fields.items():
        key = Key(f"{prefix}{name}", field)
        yield key
        inner = section_model(field.annotation)
        if inner is not None:
            yield from walk(inner, f"{section_path(key)}.")


def validator_funcs(field: FieldInfo) -> set[Any]:
    """The functions validating a key before its type: on the field, or inside `X | None`'s Annotated X."""
    found = [*field.metadata]
    for arg in typing.get_args(field.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            found += typing.get_args(arg)[1:]
    return {getattr(item, "func", None) for item in found}


def is_duration(field: FieldInfo) -> bool:
    """Durations are ints with the schema's parse_duration in front; the annotation alone says only `int`."""
    return parse_duration in validator_funcs(field)


def is_size(field: FieldInfo) -> bool:
    """Sizes (`512M`, `2G`) are ints with parse_size in front."""
    return parse_size in validator_funcs(field)


def without_none(annotation: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); anything else -> (annotation, False). Optional keys read as "or empty"."""
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) < len(typing.get_args(annotation)):
            return functools.reduce(operator.or_, args), True
    return annotation, False


def strip_annotated(annotation: Any) -> Any:
    """`Annotated[str, validator]` -> `str`: validators change what is accepted, not the type an admin writes."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


_PLAIN_NAMES: dict[Any, tuple[str, str]] = {
    str: ("string", "strings"),
    int: ("integer", "integers"),
    float: ("number", "numbers"),
    bool: ("true or false", "booleans"),
    Path: ("path", "paths"),
}


def type_words(annotation: Any, duration: bool = False, size: bool = False) -> str:
    """The type in words an admin reads, not Python's spelling of it."""
    inner, optional = without_none(strip_annotated(annotation))
    inner = strip_annotated(inner)
    if duration:
        words = "duration"
    elif size:
        words = "size"
    elif typing.get_origin(inner) is Literal:
        words = "one of " + ", ".join(f"`{value}`" for value in allowed_values(inner))
    elif typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner) or (Any,)
        words = f"list of {_PLAIN_NAMES.get(strip_annotated(item), (None, 'values'))[1]}"
    elif one_or_many_model(inner) is not None:
        words = "section, or sections by name"
    elif section_model(inner) is not None:
        words = "sections by name" if is_named_sections(inner) else "section"
    else:
        words = _PLAIN_NAMES.get(inner, (getattr(inner, "__name__", str(inner)), ""))[0]
    return f"{words}, or empty" if optional else words


def allowed_values(annotation: Any) -> list[Any]:
    """The values of a Literal type (after removing `| None`); empty for every other type."""
    inner, _ = without_none(strip_annotated(annotation))
    return list(typing.get_args(inner)) if typing.get_origin(inner) is Literal else []


def human_seconds(seconds: int) -> str:
    """3600 -> '1h': how campus admins write durations in campus.yaml."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def default_words(field: FieldInfo) -> str:
    """The default as Markdown; durations also in the unit an admin would write."""
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return "none: this key is required"
    if value is None:
        return "empty"
    if isinstance(value, list):
        return "`[]` (empty list)" if not value else f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if is_duration(field) and isinstance(value, int):
        return f"`{value}` ({human_seconds(value)})"
    return f"`{value}`"


def counted(number: int, noun: str) -> str:
    """`1 character`, `80 characters`: limits read as sentences."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def constraint_words(field: FieldInfo) -> list[str]:
    """Limits from Field(ge=..., le=..., min_length=..., pattern=...), in words."""
    unit = " seconds" if is_duration(field) else ""
    inner, _ = without_none(strip_annotated(field.annotation))
    noun = "item" if typing.get_origin(inner) is list else "character"
    describe = {
        "ge": lambda value: f"at least {value}{unit}",
        "gt": lambda value: f"more than {value}{unit}",
        "le": lambda value: f"at most {value}{unit}",
        "lt": lambda value: f"less than {value}{unit}",
        "min_length": lambda value: f"at least {counted(value, noun)}",
        "max_length": lambda value: f"at most {counted(value, noun)}",
        "pattern": lambda value: f"must match the regular expression `{value}`",
    }
    return [
        words(getattr(item, attribute))
        for item in field.metadata
        for attribute, words in describe.items()
        if getattr(item, attribute, None) is not None
    ]


def model_text(model: type[BaseModel], field: FieldInfo) -> str:
    """A section's prose: the model's docstring, which says more than the field's one-line description."""
    doc = inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].replace("\n", " ")
    text = doc or field.description or ""
    if one_or_many_model(field.annotation) is not None:
        text += (
            " One section configures one instance; to configure several, put each under a name of your choice "
            "(the name appears on the sign-in form and in `admins` entries such as `name:alice`)."
        )
    return text


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower-cased, punctuation other than `-` and `_` dropped, spaces to `-`."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    """A `|` inside a table cell would end the cell."""
    return text.replace("|", "\\|")


def summary_table(keys: list[Key]) -> str:
    """One line per key with type and default, linking to the key's details."""
    lines = ["| Key | Type | Default |", "| --- | --- | --- |"]
    for key in keys:
        if key.is_section:
            continue
        kind = type_words(key.field.annotation, is_duration(key.field), is_size(key.field))
        lines.append(f"| [`{key.path}`](#{anchor(key.path)}) | {_cell(kind)} | {_cell(default_words(key.field))} |")
    return "\n".join(lines) + "\n"


def key_details(key: Key) -> str:
    """A key's heading, description, type (with a Literal's allowed values), default and limits."""
    field = key.field
    parts = [f"### `{key.path}`\n"]
    if field.description:
        parts.append(f"{field.description}\n")
    facts = [
        f"- Type: {type_words(field.annotation, is_duration(field), is_size(field))}",
        f"- Default: {default_words(field)}",
    ]
    limits = constraint_words(field)
    if limits:
        facts.append("- Limits: " + "; ".join(limits))
    parts.append("\n".join(facts) + "\n")
    return "\n".join(parts)


def section_details(path: str, model: type[BaseModel], field: FieldInfo | None) -> str:
    """A section's heading and prose, then its own keys; nested sections get their own heading after it."""
    heading = f"## `{path}`\n" if path else "## Top-level keys\n"
    text = model_text(model, field) if field is not None else "Keys at the top of campus.yaml."
    blocks = [heading, f"{text}\n"]
    prefix = f"{path}." if path else ""
    keys = [Key(prefix + name, inner) for name, inner in model.model_fields.items()]
    nested = [key for key in keys if key.is_section]
    if nested:
        label = "Sections" if not path else "Sections inside it"
        links = [f"[`{section_path(key)}`](#{anchor(section_path(key))})" for key in nested]
        blocks.append(f"{label}: " + ", ".join(links))
        blocks[-1] += ".\n"
    blocks.extend(key_details(key) for key in keys if not key.is_section)
    return "\n".join(blocks)


def render(root: type[BaseModel] = CampusConfig) -> str:
    """The whole reference: header, summary table, then every section in schema order."""
    keys = list(walk(root))
    blocks = [_HEADER.format(example=EXAMPLE_LINK), "## All keys\n", summary_table(keys)]
    blocks.append(section_details("", root, None))
    for key in keys:
        model = section_model(key.field.annotation)
        if model is not None:
            blocks.append(section_details(section_path(key), model, key.field))
    return "\n".join(blocks).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    description = "Generate the campus.yaml reference."
    return generated_page_main("python -m campushub.config.reference", description, render, argv)


if __name__ == "__main__":
    sys.exit(main())
