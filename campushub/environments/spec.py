"""What a repository asks to have installed: its `requirements.txt` or `environment.yml`, checked and normalised.

Everything here is pure, so that what is refused, and why, is the same for a launch, a course kernel or
`campushub environments build`. Packages come only from the campus's package index by name and version:
options that change where pip looks (`--index-url`, `-f`), other files (`-r`, `-c`), editable installs,
local paths and direct URLs are refused with the line that asked for them. `environment.yml` is read for
what pip can install (there is no conda here): conda's `name=1.2` becomes `name==1.2.*`, its `pip:` list is
taken as it is, and a Python version the builder does not have is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

SPEC_FILES = ("requirements.txt", "environment.yml", "environment.yaml")
MAX_SPEC_BYTES = 64 * 1024
MAX_REQUIREMENTS = 200
# Bumped when what a build does changes, so that environments built the old way are built again.
BUILDER_REVISION = 1
# conda package names whose PyPI name differs (the common ones in teaching material).
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "matplotlib-base": "matplotlib",
}
CONDA_ONLY = {"pip", "python", "r-base", "r-essentials", "nodejs", "_libgcc_mutex"}


class SpecRefused(ValueError):
    """The file asks for something a build will not do; the message names the file and line."""


@dataclass(frozen=True)
class EnvironmentSpec:
    """Requirements in pip's syntax, checked; `source` is the file they came from, for messages."""

    source: str
    requirements: tuple[str, ...]

    def key(self, python_version: str, index_url: str | None) -> str:
        """The environment's name on disk: the same packages from the same index for the same Python share one."""
        identity = {
            "builder": BUILDER_REVISION,
            "python": python_version,
            "index": index_url or "",
            "requirements": sorted(self.requirements),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]

    def requirements_text(self) -> str:
        return "".join(f"{line}\n" for line in self.requirements)


def parse_spec(name: str, text: str, python_version: str) -> EnvironmentSpec:
    """The spec in file `name` (one of SPEC_FILES) with content `text`."""
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecRefused(f"{name} is larger than {MAX_SPEC_BYTES // 1024} KB")
    if name == "requirements.txt":
        requirements = parse_requirements(text, name)
    elif name in ("environment.yml", "environment.yaml"):
        requirements = parse_environment_yml(text, name, python_version)
    else:
        raise SpecRefused(f"{name} is not a file the builder reads ({', '.join(SPEC_FILES)})")
    if len(requirements) > MAX_REQUIREMENTS:
        raise SpecRefused(f"{name} lists {len(requirements)} packages; at most {MAX_REQUIREMENTS} are built")
    return EnvironmentSpec(name, tuple(requirements))


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) with comments removed and `\\` continuations joined, blank lines left out."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append((start, line))
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


def parse_requirements(text: str, source: str = "requirements.txt") -> list[str]:
    return [check_requirement(line, f"{source}, line {number}") for number, line in logical_lines(text)]


def check_requirement(line: str, where: str) -> str:
    """One requirement by name (extras, versions and markers allowed), normalised; SpecRefused otherwise."""
    if line.startswith("-"):
        option = line.split()[0].split("=")[0]
        raise SpecRefused(
            f"{where}: `{option}` is not allowed: packages come from the campus's package index by name and "
            "version only (no other indexes, files, editable or local installs)"
        )
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        raise SpecRefused(f"{where}: `{line[:80]}` is not a package requirement such as `numpy>=1.26`") from None
    if requirement.url:
        raise SpecRefused(
            f"{where}: `{requirement.name} @ ...` installs from a URL: only packages from the campus's "
            "package index are built; name a released version instead"
        )
    return str(requirement)


def parse_environment_yml(text: str, source: str, python_version: str) -> list[str]:
    try:
        document = YAML(typ="safe").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise SpecRefused(f"{source}{where}: not valid YAML") from None
    if not isinstance(document, dict) or not isinstance(document.get("dependencies", []), list):
        raise SpecRefused(f"{source}: expected a mapping with a `dependencies:` list")
    requirements: list[str] = []
    for entry in document.get("dependencies") or []:
        if isinstance(entry, dict) and set(entry) == {"pip"} and isinstance(entry["pip"], list):
            requirements += [
                check_requirement(str(line), f"{source}, pip dependency `{line}`") for line in entry["pip"]
            ]
        elif isinstance(entry, str):
            converted = conda_to_pip(entry, source, python_version)
            if converted:
                requirements.append(converted)
        else:
            raise SpecRefused(f"{source}: dependency {entry!r} is neither a package nor a `pip:` list")
    return requirements


def conda_to_pip(entry: str, source: str, python_version: str) -> str | None:
    """A conda dependency as a pip requirement; None for what is not a package to install (python, pip)."""
    spec = entry.split("::")[-1].strip()
    match = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", spec)
    if not match:
        raise SpecRefused(f"{source}: dependency `{entry}` is not a package name")
    name, version = match.group(1).lower(), conda_version(match.group(2).strip())
    if name == "python":
        check_python(version, python_version, source)
        return None
    if name in CONDA_ONLY:
        return None
    return check_requirement(f"{CONDA_TO_PYPI.get(name, name)}{version}", f"{source}, dependency `{entry}`")


def conda_version(version: str) -> str:
    """conda's `=1.2`, `=1.2=build` and `1.2` (any 1.2.x) as pip's `==1.2.*`; `==1.2.3` exact (its build string
    dropped); comparisons such as `>=1.2,<2` as they are."""
    if version.startswith("=="):
        return "==" + version[2:].split("=")[0]
    if version.startswith("="):
        version = version[1:]
    if not version or not re.match(r"^[0-9]", version):
        return version
    version = version.split("=")[0].strip()
    return f"=={version}" if version.endswith("*") else f"=={version}.*"


def check_python(version: str, python_version: str, source: str) -> None:
    if not version:
        return
    try:
        allowed = SpecifierSet(version)
    except InvalidSpecifier:
        raise SpecRefused(f"{source}: `python{version}` is not a Python version") from None
    if python_version not in allowed and f"{python_version}.0" not in allowed:
        raise SpecRefused(
            f"{source} asks for python{version}; this campus builds environments with Python {python_version}"
        )
