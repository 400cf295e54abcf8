"""The benchmark's resource figures, each computed from procfs readings as bench/README.md describes."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

from bench import cputree, procfs

SERVER_MARKERS = ("jupyterhub-singleuser", "singleuser")
KERNEL_MARKER = "ipykernel"


@dataclass(frozen=True)
class ServerCpu:
    """CPU a user's processes had used when the user got the first result.

    `found_by` says how the server process was recognised: by its command line, or (when no
    command line named it) as every process of the account except kernels.
    """

    server_cpu_s: float | None
    kernel_cpu_s: float
    server_pids: list[int]
    found_by: str


def user_processes(uid: int) -> list[procfs.Process]:
    return [process for process in procfs.processes() if process.real_uid == uid]


def server_cpu(uid: int) -> ServerCpu:
    mine = user_processes(uid)
    kernels = [process for process in mine if KERNEL_MARKER in process.cmdline]
    servers = [
        process
        for process in mine
        if KERNEL_MARKER not in process.cmdline and any(marker in process.cmdline for marker in SERVER_MARKERS)
    ]
    found_by = "cmdline"
    if servers:
        # One server per user is expected; should a wrapper also match, the first started is the server.
        servers = [min(servers, key=lambda process: process.start_ticks)]
    else:
        servers = [process for process in mine if KERNEL_MARKER not in process.cmdline]
        found_by = "uid"
    kernel_s = sum(process.cpu_ticks for process in kernels) / procfs.CLOCK_TICKS
    if not servers:
        return ServerCpu(None, kernel_s, [], "none")
    server_s = sum(process.cpu_ticks for process in servers) / procfs.CLOCK_TICKS
    return ServerCpu(server_s, kernel_s, [process.pid for process in servers], found_by)


@dataclass(frozen=True)
class Memory:
    pss_mib: float
    processes: int


def user_pss(uid: int) -> Memory:
    """PSS summed over every process of the account (its server and its kernels)."""
    readings = [procfs.pss_kib(process.pid) for process in user_processes(uid)]
    present = [kib for kib in readings if kib is not None]
    return Memory(sum(present) / 1024, len(present))


def tree_pss(root_pid: int, exclude_uids: set[int]) -> Memory:
    """PSS of a hub's own processes (hub, proxy, services, helpers), without the students' servers and kernels.

    A helper that servers share (such as a process they are forked from) is paid once per hub, not per user:
    this is where it shows.
    """
    root = procfs.read_process(root_pid)
    tree = ([root] if root else []) + procfs.descendants(root_pid)
    readings = [procfs.pss_kib(process.pid) for process in tree if process.real_uid not in exclude_uids]
    present = [kib for kib in readings if kib is not None]
    return Memory(sum(present) / 1024, len(present))


def own_cpu_s() -> float:
    """CPU used by this benchmark process, all its threads together (the simulated students)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class MachineCpuWindow:
    """System-wide busy CPU between `start()` and `stop()`, less the benchmark's own.

    What is left is what the hub, proxy, servers and kernels (and anything else running on the
    machine) used; `background_load` before the burst says how much "anything else" was. With
    `tree` set, the hub's process tree is sampled over the same window, so the parts it splits
    the hub's CPU into and the machine figure cover the same moments.
    """

    tree: cputree.TreeCpu | None = None
    started: float = 0.0
    busy_start: int = 0
    own_start: float = 0.0
    elapsed_s: float = 0.0
    machine_cpu_s: float = 0.0
    own_cpu_s: float = 0.0
    stopped: bool = False

    def start(self) -> None:
        self.started = time.monotonic()
        if self.tree is not None:
            self.tree.start()
        self.busy_start, _ = procfs.machine_busy_ticks()
        self.own_start = own_cpu_s()

    def stop(self) -> None:
        if self.stopped:
            return
        if self.tree is not None:
            self.tree.stop()  # its last sample first: the machine reading below then includes it
        busy, _ = procfs.machine_busy_ticks()
        self.own_cpu_s = own_cpu_s() - self.own_start
        self.machine_cpu_s = (busy - self.busy_start) / procfs.CLOCK_TICKS
        self.elapsed_s = time.monotonic() - self.started
        self.stopped = True

    @property
    def net_cpu_s(self) -> float:
        return max(0.0, self.machine_cpu_s - self.own_cpu_s)


@dataclass(frozen=True)
class Background:
    """What the machine did while the benchmark waited: CPUs' worth of work, and who did most of it."""

    busy_cores: float
    top: list[dict]


def background_load(seconds: float, top: int = 3) -> Background:
    """Busy CPUs over `seconds` of waiting, with the processes (kernel threads included) that used most."""
    before = {(process.pid, process.start_ticks): process.cpu_ticks for process in procfs.processes()}
    busy_before, _ = procfs.machine_busy_ticks()
    started = time.monotonic()
    time.sleep(seconds)
    busy_after, _ = procfs.machine_busy_ticks()
    elapsed = time.monotonic() - started
    used = []
    for process in procfs.processes():
        ticks = process.cpu_ticks - before.get((process.pid, process.start_ticks), 0)
        if ticks > 0:
            used.append((ticks, process))
    used.sort(key=lambda pair: pair[0], reverse=True)
    busiest = [
        {"pid": process.pid, "cpu_s": round(ticks / procfs.CLOCK_TICKS, 2), "command": process.cmdline[:120]}
        for ticks, process in used[:top]
    ]
    return Background(round((busy_after - busy_before) / procfs.CLOCK_TICKS / elapsed, 3), busiest)
