"""`compute.memory_limit`, `cpu_limit` and `process_limit`: what this machine can enforce, said before any start.

A limit in campus.yaml that the machine cannot enforce would be a promise broken in silence: one
student's runaway kernel would still take the machine down. So `campushub check` lists what each
limit would be enforced with (or why it cannot be), and `up` refuses a configured limit it cannot
enforce, saying what to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from campushub.compute.backend import Probe
from campushub.compute.cgroups import CgroupSupport, Limits

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

# campus.yaml key, the cgroup controller that enforces it, how `check` names it
LIMIT_KEYS = (("memory_limit", "memory", "memory"), ("cpu_limit", "cpu", "CPU"), ("process_limit", "pids", "process"))


# The profile key that sets the same limit for the servers of one profile.
PROFILE_KEYS = {"memory_limit": "memory", "cpu_limit": "cpu"}


def limits_of(config: CampusConfig) -> Limits:
    compute = config.compute
    return Limits(memory=compute.memory_limit, cpu=compute.cpu_limit, processes=compute.process_limit)


def configured(config: CampusConfig, key: str, backend: str) -> tuple[str, object] | None:
    """Where a limit is set for servers of `backend` (`compute.<key>`, or a profile's), and its value."""
    value = getattr(config.compute, key)
    if value is not None:
        return f"compute.{key}", value
    profile_key = PROFILE_KEYS.get(key)
    for slug, profile in config.compute.profiles.items():
        if profile_key and profile.backend == backend and getattr(profile, profile_key) is not None:
            return f"compute.profiles.{slug}.{profile_key}", getattr(profile, profile_key)
    return None


def limit_probes(config: CampusConfig, layout: Layout, support: CgroupSupport, backend: str) -> list[Probe]:
    """One line per kind of limit: what enforces it here; a problem only for a configured one that cannot be."""
    found = []
    for key, controller, word in LIMIT_KEYS:
        where = configured(config, key, backend)
        how = support.describe(controller)
        enforceable = controller in support.usable and layout.running_as_root
        if not layout.running_as_root:
            how = "limits need CampusHub to run as root (users' servers run as their own accounts then)"
        if where is None:
            state = f"enforceable here with the {how}" if enforceable else f"NOT enforceable here: {how}"
            found.append(Probe(f"{word} limits ({state})", None))
            continue
        path, value = where
        if enforceable:
            found.append(Probe(f"{path} {shown(key, value)} (enforced with the {how})", None))
        else:
            found.append(
                Probe(
                    path,
                    f"`{path}` is {shown(key, value)}, but this machine cannot enforce it: {how}. "
                    f"Remove `{path}` from campus.yaml, or run CampusHub where it can be enforced.",
                )
            )
    return found


def shown(key: str, value: object) -> str:
    if key == "memory_limit" and isinstance(value, int):
        for unit, size in (("G", 1 << 30), ("M", 1 << 20)):
            if value % size == 0:
                return f"{value // size}{unit}"
        return f"{value} bytes"
    return str(value)
