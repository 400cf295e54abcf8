"""Per-user cgroups: one group per user's server, holding it and everything it starts, with the limits set.

Machines differ, so nothing is assumed: the layout is read from /proc/self/mountinfo and
/proc/self/cgroup. Each controller (memory, cpu, pids) is used where it is mounted: a cgroup v1
hierarchy of its own (the v1 or "hybrid" layout, where a v2 tree may be mounted beside holding
none of them), or the v2 unified tree when the controller is enabled there.

Groups are made under the cgroup CampusHub itself runs in (never above it, so that a limit the
admin or systemd put on CampusHub still covers its users): `<own>/users/<name>`.

cgroup v2 allows processes only in leaves once controllers are handed down ("no internal
processes"), so there CampusHub moves its own processes into `<own>/campushub-hub` first. That
needs a cgroup of its own, which systemd gives a service with `Delegate=` (`campushub service
install` writes it so); a cgroup shared with other processes (a login shell's) is left alone and
the limits are reported as not enforceable.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = ("memory", "cpu", "pids")
USERS = "users"
HUB_LEAF = "campushub-hub"
CPU_PERIOD = 100_000  # microseconds: the scheduler's accounting window for a CPU quota


@dataclass(frozen=True)
class Mount:
    path: str
    root: str
    version: int  # 1 or 2
    controllers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Limits:
    """What one user's server and everything it starts may use together; None: no limit."""

    memory: int | None = None  # bytes
    cpu: float | None = None  # cores
    processes: int | None = None

    @property
    def wanted(self) -> dict[str, object]:
        """The controllers these limits need, with the value each is asked to enforce."""
        found = {"memory": self.memory, "cpu": self.cpu, "pids": self.processes}
        return {controller: value for controller, value in found.items() if value is not None}


@dataclass(frozen=True)
class Hierarchy:
    """Where one controller's groups are made: `base` is CampusHub's own cgroup in that hierarchy."""

    controller: str
    version: int
    base: Path


@dataclass
class CgroupSupport:
    """What this machine lets CampusHub enforce: a hierarchy per usable controller, a reason per unusable one."""

    usable: dict[str, Hierarchy] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def describe(self, controller: str) -> str:
        if controller in self.usable:
            found = self.usable[controller]
            return f"cgroup v{found.version} `{controller}` controller"
        return self.problems.get(controller, f"no `{controller}` controller")


def parse_mountinfo(text: str) -> list[Mount]:
    """The cgroup mounts of /proc/self/mountinfo: v1 ones with their controllers, v2 ones."""
    mounts = []
    for line in text.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            mounts.append(Mount(unescape(fields[4]), fields[3], 2))
        elif fstype == "cgroup":
            mounts.append(Mount(unescape(fields[4]), fields[3], 1, frozenset(options) & set(CONTROLLERS)))
    return mounts


def unescape(path: str) -> str:
    """mountinfo writes a space as \\040 (and tab, newline, backslash likewise)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, char)
    return path


def parse_proc_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """(v1 controller -> own path, own v2 path) from /proc/self/cgroup."""
    v1: dict[str, str] = {}
    v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, names, path = parts
        if names == "":
            v2 = path
        for name in names.split(","):
            if name in CONTROLLERS:
                v1[name] = path
    return v1, v2


def within(mount: Mount, own: str, fs_root: Path) -> Path:
    """The directory of cgroup `own` under `mount` (whose own root may be a subtree, in a container)."""
    relative = own
    if mount.root != "/" and (own == mount.root or own.startswith(mount.root + "/")):
        relative = own[len(mount.root) :]
    base = fs_root / mount.path.lstrip("/") / relative.lstrip("/")
    if base.name == HUB_LEAF:  # CampusHub's own leaf (v2): its groups are beside it
        base = base.parent
    return base


def detect(fs_root: Path = Path("/"), proc: Path = Path("/proc/self")) -> CgroupSupport:
    """Which controllers CampusHub can use here, read from the machine (fs_root and proc: for tests)."""
    try:
        mounts = parse_mountinfo((proc / "mountinfo").read_text())
        v1_paths, v2_path = parse_proc_cgroup((proc / "cgroup").read_text())
    except OSError as exc:
        return CgroupSupport(problems=dict.fromkeys(CONTROLLERS, f"cannot read this process's cgroups ({exc})"))
    support = CgroupSupport()
    unified = next((mount for mount in mounts if mount.version == 2), None)
    for controller in CONTROLLERS:
        v1 = next((mount for mount in mounts if mount.version == 1 and controller in mount.controllers), None)
        if v1 is not None and controller in v1_paths:
            found = Hierarchy(controller, 1, within(v1, v1_paths[controller], fs_root))
        elif unified is not None and v2_path is not None:
            base = within(unified, v2_path, fs_root)
            if not own_v2_group(v2_path):
                support.problems[controller] = (
                    f"on cgroup v2 CampusHub needs a cgroup of its own, and it runs in {v2_path} with other processes "
                    "(a login session's); run it as its systemd service: `campushub service install`"
                )
                continue
            available = read_words(base / "cgroup.controllers")
            if controller not in available:
                support.problems[controller] = (
                    f"the cgroup v2 tree does not hand the `{controller}` controller to CampusHub's cgroup {base} "
                    "(run CampusHub as its systemd service: `campushub service install` sets Delegate=)"
                )
                continue
            found = Hierarchy(controller, 2, base)
        else:
            support.problems[controller] = f"no cgroup hierarchy on this machine has the `{controller}` controller"
            continue
        if not os.access(found.base, os.W_OK):
            support.problems[controller] = (
                f"{found.base} cannot be written (limits need CampusHub to run as root, or a delegated cgroup)"
            )
            continue
        support.usable[controller] = found
    return support


def own_v2_group(path: str) -> bool:
    """Whether the v2 cgroup CampusHub runs in is its own to divide: a systemd service's (Delegate=), CampusHub's
    leaf in one, or the root of a container's cgroup namespace. A login session's scope is not."""
    return path == "/" or path.endswith(".service") or path.rstrip("/").endswith("/" + HUB_LEAF)


def read_words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def limit_files(hierarchy: Hierarchy, limits: Limits) -> list[tuple[str, str]]:
    """(file, value) to write in a user's group of `hierarchy` for `limits`, in order."""
    controller, version = hierarchy.controller, hierarchy.version
    if controller == "memory" and limits.memory is not None:
        if version == 2:
            return [("memory.max", str(limits.memory)), ("memory.swap.max", "0")]
        # memsw (memory + swap) after memory: it may never be below the memory limit.
        return [("memory.limit_in_bytes", str(limits.memory)), ("memory.memsw.limit_in_bytes", str(limits.memory))]
    if controller == "cpu" and limits.cpu is not None:
        quota = max(1000, round(limits.cpu * CPU_PERIOD))
        if version == 2:
            return [("cpu.max", f"{quota} {CPU_PERIOD}")]
        return [("cpu.cfs_period_us", str(CPU_PERIOD)), ("cpu.cfs_quota_us", str(quota))]
    if controller == "pids" and limits.processes is not None:
        return [("pids.max", str(limits.processes))]
    return []


def users_cpu_weight(hierarchy: Hierarchy, cpus: int | None = None) -> tuple[Path, str]:
    """The weight of all users' groups together against CampusHub's own processes beside them.

    By default a group weighs as much as one busy process, so a room of students would share what one
    hub thread gets; weighted as one process per core, they get the machine when the hub is idle and
    the hub still gets its share when it is busy.
    """
    count = cpus or os.cpu_count() or 1
    if hierarchy.version == 2:
        return hierarchy.base / USERS / "cpu.weight", str(min(10_000, 100 * count))
    return hierarchy.base / USERS / "cpu.shares", str(1024 * count)


class UserCgroups:
    """Makes and removes users' groups for the limits asked; the hub (root) holds one."""

    def __init__(self, support: CgroupSupport, limits: Limits) -> None:
        self.limits = limits
        self.hierarchies = [support.usable[controller] for controller in limits.wanted if controller in support.usable]
        missing = [controller for controller in limits.wanted if controller not in support.usable]
        if missing:
            raise RuntimeError("; ".join(f"{name}: {support.describe(name)}" for name in missing))
        self._v2_ready = False

    def group_dirs(self, name: str) -> list[Path]:
        """The user's group in each hierarchy (one directory when all are the same v2 tree)."""
        seen: dict[Path, None] = {}
        for hierarchy in self.hierarchies:
            seen[hierarchy.base / USERS / name] = None
        return list(seen)

    def prepare(self, name: str) -> list[str]:
        """Make `name`'s groups with their limits; returns the cgroup.procs files a new server joins."""
        if any(hierarchy.version == 2 for hierarchy in self.hierarchies) and not self._v2_ready:
            self.prepare_v2()
        procs = []
        for hierarchy in self.hierarchies:
            group = hierarchy.base / USERS / name
            group.mkdir(parents=True, exist_ok=True)
            if hierarchy.controller == "cpu":
                write_if_present(*users_cpu_weight(hierarchy))
            write_limits(group, limit_files(hierarchy, self.limits))
            procs.append(str(group / "cgroup.procs"))
        return sorted(set(procs))

    def prepare_v2(self) -> None:
        """CampusHub's processes into their leaf, then the controllers handed down to users' groups."""
        bases = {hierarchy.base for hierarchy in self.hierarchies if hierarchy.version == 2}
        wanted = " ".join(f"+{h.controller}" for h in self.hierarchies if h.version == 2)
        for base in bases:
            leaf = base / HUB_LEAF
            leaf.mkdir(exist_ok=True)
            for pid in (base / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, OSError):
                    (leaf / "cgroup.procs").write_text(pid)
            (base / "cgroup.subtree_control").write_text(wanted)
            (base / USERS).mkdir(exist_ok=True)
            (base / USERS / "cgroup.subtree_control").write_text(wanted)
        self._v2_ready = True

    def remove(self, name: str) -> None:
        """Remove `name`'s groups once empty (a group with processes stays: a kernel may outlive its server)."""
        for group in self.group_dirs(name):
            try:
                group.rmdir()
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.EBUSY):
                    raise

    def members(self, name: str) -> set[int]:
        pids: set[int] = set()
        for group in self.group_dirs(name):
            with contextlib.suppress(OSError):
                pids |= {int(pid) for pid in (group / "cgroup.procs").read_text().split()}
        return pids


def write_limits(group: Path, files: list[tuple[str, str]]) -> None:
    """Write the limits; if the kernel refuses the order (v1 memsw may never be below memory, so raising both
    must start with memsw), write them the other way round."""
    try:
        for filename, value in files:
            write_if_present(group / filename, value)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        for filename, value in reversed(files):
            write_if_present(group / filename, value)


def write_if_present(path: Path, value: str) -> None:
    """Write a control file; one this kernel lacks (memsw without swap accounting) is skipped."""
    try:
        path.write_text(value)
    except FileNotFoundError:
        return


def join(procs: list[str], pid: int | None = None) -> None:
    """Put `pid` (default: this process) into each group: what a new server does before dropping to its user."""
    for path in procs:
        with open(path, "w") as control:
            control.write(str(pid or os.getpid()))
