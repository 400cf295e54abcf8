"""Where a hub's CPU goes: its process tree, sampled from /proc while the burst runs, split into parts.

The machine-wide figure (measure.MachineCpuWindow) says how much CPU a lecture start cost, not who
spent it. This module follows every process below the hub's root process (the one the benchmark
started) and adds up, per part, the CPU each used between `start()` and `stop()`:

- a living process's own CPU is the growth of `utime + stime` in /proc/PID/stat between samples;
- a process that ends between two samples is, once its parent waits for it, added by the kernel to
  the parent's `cutime + cstime`; that growth, less what was already seen of the children that
  vanished meanwhile, is the part of their CPU no sample saw. It counts where the parent counts, so a
  helper too short-lived to be seen (useradd for a new account, a shell a server runs) is paid by the
  process that ran it. Children of a process that does not wait for them are the only CPU missed.

Which part a process belongs to is decided from its ancestry and command line, never from cgroups, so
it works the same for CampusHub (servers forked from a fork server, keeping its command line) and for
stock JupyterHub (servers started afresh by the hub). The sampler runs in a thread of the benchmark,
whose own CPU the machine figure already leaves out.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from bench import procfs

# The parts, in the order the report shows them.
HUB = "hub"
PROXY = "proxy"
FORKSERVER = "fork server"
SERVERS = "servers"
KERNELS = "kernels"
SERVICES = "services"
PARTS: tuple[str, ...] = (HUB, PROXY, FORKSERVER, SERVERS, KERNELS, SERVICES)
# How the report's table names each part (as a share of the machine figure); `rest_of_machine` is
# everything outside the hub's process tree.
PART_LABELS = {
    HUB: "of which hub (sign-in hashing incl.)",
    PROXY: "of which proxy",
    FORKSERVER: "of which fork server (parent)",
    SERVERS: "of which servers",
    KERNELS: "of which kernels",
    SERVICES: "of which services, campushub up",
    "rest_of_machine": "of which rest of the machine",
}

DEFAULT_INTERVAL_S = 0.25
# Command-line markers; every one is a substring of the command a process runs (or, for forked
# servers, of the command of the fork server they were forked from).
_KERNEL = "ipykernel"
_FORKSERVER = "forkserver.py"
_PROXY = "configurable-http-proxy"
_SERVER = "singleuser"
_HUB = "jupyterhub"
_SERVICE_MARKERS = ("idle-culler", "idle_culler", "campushub.courses", "campushub.services")


@dataclass(frozen=True)
class Reading:
    """One process in one sample: enough to tell it from a later reuse of its pid, and its CPU so far."""

    pid: int
    ppid: int
    start_ticks: int
    name: str  # the name in /proc/PID/stat: changes at exec, so a changed name means a new command line
    self_ticks: int  # utime + stime
    reaped_ticks: int  # cutime + cstime: children (and their children) it has waited for

    @property
    def key(self) -> tuple[int, int]:
        return self.pid, self.start_ticks

    @property
    def total_ticks(self) -> int:
        return self.self_ticks + self.reaped_ticks


def read_stat(pid: int) -> Reading | None:
    """/proc/PID/stat only (one read per process and sample); None when the process has gone."""
    try:
        with open(f"{procfs.PROC}/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    close = text.rindex(")")
    fields = text[close + 2 :].split()
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ... starttime(19); proc(5).
    return Reading(
        pid=pid,
        ppid=int(fields[1]),
        start_ticks=int(fields[19]),
        name=text[text.index("(") + 1 : close],
        self_ticks=int(fields[11]) + int(fields[12]),
        reaped_ticks=int(fields[13]) + int(fields[14]),
    )


def read_all() -> dict[int, Reading]:
    found = {}
    for entry in os.listdir(procfs.PROC):
        if entry.isdigit():
            reading = read_stat(int(entry))
            if reading is not None:
                found[reading.pid] = reading
    return found


def read_cmdline(pid: int, fallback: str) -> str:
    try:
        with open(f"{procfs.PROC}/{pid}/cmdline", "rb") as cmdline:
            text = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return fallback
    return text or f"[{fallback}]"  # a zombie has no command line left, only its name


def is_zombie_cmdline(cmdline: str) -> bool:
    """read_cmdline's answer for a process with no command line left: one that has ended, not yet waited for."""
    return cmdline.startswith("[") and cmdline.endswith("]")


def classify(cmdline: str, parent_part: str | None) -> str:
    """The part a process belongs to, given its command line and its parent's part (None for the root).

    Descendants of a kernel or of the proxy belong to it; a process forked by the fork server keeps
    the fork server's command line, so a `forkserver.py` process below another one is a server.
    """
    if parent_part in (KERNELS, PROXY):
        return parent_part
    if _KERNEL in cmdline:
        return KERNELS
    if parent_part in (SERVERS, FORKSERVER):
        return SERVERS
    if _FORKSERVER in cmdline:
        return FORKSERVER
    if _PROXY in cmdline:
        return PROXY
    if _SERVER in cmdline:
        return SERVERS
    if any(marker in cmdline for marker in _SERVICE_MARKERS):
        return SERVICES
    if parent_part == HUB:
        return HUB  # something the hub runs that is none of the above: a helper (useradd, ...)
    if _HUB in cmdline:
        return HUB
    return SERVICES  # the process that runs the hub (`campushub up`), or anything else beside it


@dataclass
class _Known:
    reading: Reading  # the last one counted
    part: str
    residual: int = 0  # growth of reaped ticks that no child already seen explains


@dataclass
class TreeCpu:
    """CPU per part of a hub's process tree between `start()` and `stop()`; a thread samples meanwhile."""

    root_pid: int
    interval_s: float = DEFAULT_INTERVAL_S
    ticks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    unseen_ticks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    processes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    samples: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        self._known: dict[tuple[int, int], _Known] = {}
        self._gone: list[_Known] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._open = False
        self.seen: set[str] = set()  # the parts any process was counted in, at the baseline or later

    def start(self) -> None:
        """The baseline: whatever the tree used before now is not counted."""
        with self._lock:
            self._open = False
            self._safe_sample()
            self._open = True
        self._thread = threading.Thread(target=self._run, name="tree-cpu", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A last sample, then the totals are final; safe to call more than once."""
        if self._thread is None:
            return
        self._done.set()
        self._thread.join()
        self._thread = None
        with self._lock:
            self._safe_sample()
            self._open = False
            self._settle()

    def _run(self) -> None:
        while not self._done.wait(self.interval_s) and self.error is None:
            with self._lock:
                self._safe_sample()

    def _safe_sample(self) -> None:
        """A defect in sampling must not end the burst or hide the other figures: the split says it failed."""
        if self.error is not None:
            return
        try:
            self._sample()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def _members(self, table: dict[int, Reading]) -> list[Reading]:
        """The root, its descendants, and processes of the tree that were re-parented away (orphans)."""
        children: dict[int, list[Reading]] = {}
        for reading in table.values():
            children.setdefault(reading.ppid, []).append(reading)
        found: list[Reading] = []
        root = table.get(self.root_pid)
        frontier = [root] if root is not None else []
        seen: set[int] = set()
        while frontier:
            reading = frontier.pop()
            if reading.pid in seen:
                continue
            seen.add(reading.pid)
            found.append(reading)
            frontier.extend(children.get(reading.pid, []))
        for reading in table.values():
            if reading.pid not in seen and reading.key in self._known:
                found.append(reading)  # an orphan of the tree: still counted, in the part it had
                seen.add(reading.pid)
        return found

    def _parts(self, members: list[Reading]) -> dict[int, str]:
        """Every member's part, parents first. Command lines are read afresh each time: exec changes them
        without changing the pid or (for `python -m ipykernel_launcher` started by a python server) the name."""
        by_pid = {reading.pid: reading for reading in members}
        parts: dict[int, str] = {}

        def part_of(reading: Reading, depth: int = 0) -> str:
            if reading.pid in parts:
                return parts[reading.pid]
            parent = by_pid.get(reading.ppid) if reading.pid != self.root_pid and depth < 64 else None
            known = self._known.get(reading.key)
            cmdline = read_cmdline(reading.pid, reading.name)
            if known is not None and reading.pid != self.root_pid and (parent is None or is_zombie_cmdline(cmdline)):
                # An orphan keeps the part it was counted in; so does a process that has ended and awaits its
                # parent's wait (a zombie has no command line left): its last CPU is still its own part's.
                part = known.part
            else:
                parent_part = part_of(parent, depth + 1) if parent is not None else None
                part = classify(cmdline, parent_part)
            parts[reading.pid] = part
            return part

        for reading in members:
            part_of(reading)
        return parts

    def _sample(self) -> None:
        members = self._members(read_all())
        parts = self._parts(members)
        by_pid = {reading.pid: reading for reading in members}
        present = {reading.key for reading in members}
        vanished = [known for key, known in self._known.items() if key not in present]
        # A vanished process's last reading is explained by its nearest ancestor still alive, which
        # (directly, or through the vanished ones between) has waited for it: that much of the
        # ancestor's reaped growth was counted already.
        explained: dict[tuple[int, int], int] = {}
        vanished_parts: dict[tuple[int, int], set[str]] = {}
        vanished_by_pid = {known.reading.pid: known for known in vanished}
        for known in vanished:
            ancestor, hops = known.reading.ppid, 0
            while ancestor in vanished_by_pid and hops < 64:
                ancestor, hops = vanished_by_pid[ancestor].reading.ppid, hops + 1
            alive = by_pid.get(ancestor)
            if alive is not None:
                explained[alive.key] = explained.get(alive.key, 0) + known.reading.total_ticks
                vanished_parts.setdefault(alive.key, set()).add(known.part)
            del self._known[known.reading.key]
            self._gone.append(known)

        for reading in members:
            part = parts[reading.pid]
            known = self._known.get(reading.key)
            if known is None:
                if self._open:  # born inside the window: all it used counts, from zero
                    previous = Reading(reading.pid, reading.ppid, reading.start_ticks, reading.name, 0, 0)
                    self.processes[part] += 1
                else:
                    previous = reading
                known = self._known[reading.key] = _Known(previous, part)
            if self._open:
                self.ticks[part] += reading.self_ticks - known.reading.self_ticks
                grown = reading.reaped_ticks - known.reading.reaped_ticks
                residual = grown - explained.get(reading.key, 0)
                ended = vanished_parts.get(reading.key, set())
                if residual > 0 and len(ended) == 1 and part not in ended:
                    # The last moments of processes of another part that ended (a kernel shut down
                    # by its server): theirs, not the parent's.
                    ended_part = next(iter(ended))
                    self.ticks[ended_part] += residual
                    self.unseen_ticks[ended_part] += residual
                else:
                    known.residual += residual
            known.part = part
            known.reading = reading
            self.seen.add(part)
        self.samples += 1

    def _settle(self) -> None:
        """Each process's unexplained reaped CPU (never below 0) counts in its part; then the totals are final."""
        for known in [*self._known.values(), *self._gone]:
            if known.residual > 0:
                self.ticks[known.part] += known.residual
                self.unseen_ticks[known.part] += known.residual
            known.residual = 0

    def seconds(self) -> dict[str, float | None]:
        """CPU-seconds per part; None for a part this hub does not have (stock JupyterHub's fork server)."""
        return {part: self.ticks[part] / procfs.CLOCK_TICKS if part in self.seen else None for part in PARTS}

    @property
    def total_s(self) -> float:
        return sum(self.ticks.values()) / procfs.CLOCK_TICKS

    def as_dict(self) -> dict:
        return {
            "cpu_s": {part: None if seconds is None else round(seconds, 3) for part, seconds in self.seconds().items()},
            "total_cpu_s": round(self.total_s, 3),
            "of_which_unseen_children_cpu_s": {
                part: round(ticks / procfs.CLOCK_TICKS, 3) for part, ticks in self.unseen_ticks.items()
            },
            "processes_started": dict(self.processes),
            "samples": self.samples,
            "interval_s": self.interval_s,
            "error": self.error,
        }
