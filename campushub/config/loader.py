"""Reading campus.yaml into a validated CampusConfig.

This is the only module that reads the YAML file. Errors are turned into
one paragraph naming the file, the line, the key path and a fix.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from campushub.config.schema import CampusConfig
from campushub.config.sections import FORM_TAGS, ProblemAt
from campushub.errors import UserError

DEFAULT_FILE = "campus.yaml"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config, its paths made absolute, and the file it came from."""

    config: CampusConfig
    path: Path


def load_config(path: Path | str) -> LoadedConfig:
    """Read, validate and resolve `path`; raise UserError on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such file. Run `campushub init` to write one, or pass the right file with -c."
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror}).") from None
    path = path.resolve()
    return LoadedConfig(absolutize(parse_config(text, str(path)), path.parent), path)


def parse_config(text: str, filename: str = DEFAULT_FILE) -> CampusConfig:
    """Validate YAML text; `filename` only appears in messages."""
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else "?"
        raise UserError(
            f"{filename}:{line}: this is not valid YAML ({exc.problem}). "
            "Check the indentation and quoting on that line."
        ) from None
    if document is None:
        document = CommentedMap()
    if not isinstance(document, dict):
        raise UserError(f"{filename}:1: the file must be a mapping of keys such as `name:` and `listen:`.")
    _expand_environment(document, filename)
    try:
        return CampusConfig.model_validate(_plain(document))
    except ValidationError as exc:
        raise UserError(_describe(exc, document, filename)) from None


def absolutize(config: CampusConfig, base_dir: Path) -> CampusConfig:
    """Paths in campus.yaml are relative to the file, like paths in most config files.

    Every `Path` field of every section (a plug-in's too) is resolved, wherever it sits.
    """
    return _resolved(config, base_dir)


def _resolved(value: Any, base_dir: Path) -> Any:
    if isinstance(value, Path):
        value = Path(os.path.expanduser(value))
        return value if value.is_absolute() else (base_dir / value).resolve()
    if isinstance(value, BaseModel):
        update = {}
        for name in type(value).model_fields:
            current = getattr(value, name)
            resolved = _resolved(current, base_dir)
            if resolved is not current:
                update[name] = resolved
        return value.model_copy(update=update) if update else value
    if isinstance(value, dict):
        items = {key: _resolved(item, base_dir) for key, item in value.items()}
        return items if any(items[key] is not value[key] for key in value) else value
    if isinstance(value, list):
        items = [_resolved(item, base_dir) for item in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value
    return value


_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def _expand_environment(node: Any, filename: str) -> None:
    """Replace values written `${NAME}` by that environment variable, so secrets need not sit in the file."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        if isinstance(value, dict | list):
            _expand_environment(value, filename)
        elif isinstance(value, str) and (match := _ENV_REFERENCE.match(value)):
            name = match.group(1)
            if name not in os.environ:
                line = node.lc.key(key)[0] + 1 if isinstance(node, CommentedMap) else node.lc.item(key)[0] + 1
                raise UserError(
                    f"{filename}:{line}: `{key}` refers to the environment variable {name}, which is not set. "
                    f"Set it (export {name}=...) before running campushub, or write the value in the file."
                )
            node[key] = os.environ[name]


def _plain(node: Any) -> Any:
    """Convert ruamel's commented containers to plain ones (pydantic wants dict/list)."""
    if isinstance(node, dict):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    return node


def _describe(exc: ValidationError, document: CommentedMap, filename: str) -> str:
    """The first error in full; others counted, since fixing one often fixes the rest."""
    errors = exc.errors()
    first = errors[0]
    loc = [
        part
        for part in first["loc"]
        if not isinstance(part, str) or not (part.startswith("function-") or part in FORM_TAGS)
    ]
    problem = first.get("ctx", {}).get("error")
    if isinstance(problem, ProblemAt):
        loc += list(problem.at)
    key_path = _key_path(loc)
    line = _line_of(document, loc)
    where = f"{filename}:{line}" if line else filename
    if first["type"] == "extra_forbidden":
        message = f"{where}: unknown key `{key_path}`."
        suggestion = _suggest(loc)
        message += f" Did you mean `{suggestion}`?" if suggestion else ""
        message += " Remove it or correct its name; examples/campus.yaml documents every key."
    else:
        detail = first["msg"].removeprefix("Value error, ")
        message = f"{where}: `{key_path or '(top level)'}`: {detail}"
        if "input" in first and first["type"] not in ("missing",) and not isinstance(first["input"], dict):
            message += f" (got {first['input']!r})"
        message += ". See examples/campus.yaml for what this key accepts."
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} after this one.)"
    return message


def _key_path(loc: list) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_of(document: Any, loc: list) -> int | None:
    """1-based line of the deepest key in `loc` that exists in the document."""
    node, line = document, None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    if line is None and isinstance(node, CommentedMap | CommentedSeq):
        line = node.lc.line + 1
    return line


def _suggest(loc: list) -> str | None:
    """Closest known key at the same place, for typos like `sign-in` or `idle_timout`."""
    model: type[BaseModel] | None = CampusConfig
    for part in loc[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        model = _model_of(model.model_fields[part].annotation)
    if model is None:
        return None
    known = list(model.model_fields)
    unknown = str(loc[-1])
    close = difflib.get_close_matches(unknown.replace("-", "_"), known, n=1, cutoff=0.6)
    if not close:
        return None
    prefix = _key_path(loc[:-1])
    return f"{prefix}.{close[0]}" if prefix else close[0]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def override_listen(config: CampusConfig, ip: str | None, port: int | None) -> CampusConfig:
    """Apply `up --ip/--port` (validated like the file's values)."""
    update = {key: value for key, value in (("ip", ip), ("port", port)) if value is not None}
    if not update:
        return config
    listen = {**config.listen.model_dump(), **update}
    try:
        validated = type(config.listen).model_validate(listen)
    except ValidationError as exc:
        raise UserError(f"--ip/--port: {exc.errors()[0]['msg']}.") from None
    return config.model_copy(update={"listen": validated})
