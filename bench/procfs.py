"""Plain readings of Linux's /proc: the process table, one process's CPU and memory, the machine's CPU.

Read directly rather than through psutil so the benchmark needs nothing beyond the
project's environment, and so every figure it reports can be traced to one /proc file.
Processes come and go while they are read: a process that vanished reads as absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = "/proc"


@dataclass(frozen=True)
class Process:
    """One process as /proc showed it; `start_ticks` tells a pid from a later reuse of it."""

    pid: int
    ppid: int
    real_uid: int
    start_ticks: int
    cpu_ticks: int  # utime + stime of the process itself (all its threads), not of its children
    cmdline: str


def _stat(pid: int) -> tuple[str, list[str]] | None:
    """The command name in /proc/<pid>/stat (it may hold spaces and parentheses) and the fields after it."""
    try:
        with open(f"{PROC}/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def read_process(pid: int) -> Process | None:
    stat = _stat(pid)
    if stat is None:
        return None
    name, fields = stat
    # After the name: state(0) ppid(1) ... utime(11) stime(12) ... starttime(19); see proc(5).
    try:
        with open(f"{PROC}/{pid}/status") as status:
            uid_line = next(line for line in status if line.startswith("Uid:"))
        with open(f"{PROC}/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, StopIteration):
        return None
    return Process(
        pid=pid,
        ppid=int(fields[1]),
        real_uid=int(uid_line.split()[1]),
        start_ticks=int(fields[19]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        cmdline=command or f"[{name}]",  # kernel threads have no command line, only a name
    )


def processes() -> Iterator[Process]:
    for entry in os.listdir(PROC):
        if entry.isdigit():
            process = read_process(int(entry))
            if process is not None:
                yield process


def descendants(root_pid: int) -> list[Process]:
    """Every living process below `root_pid` (children, grandchildren, ...), whatever session it started."""
    table = list(processes())
    children: dict[int, list[Process]] = {}
    for process in table:
        children.setdefault(process.ppid, []).append(process)
    found: list[Process] = []
    frontier = [root_pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child.pid)
    return found


def is_same_process(process: Process) -> bool:
    """True while the pid still belongs to the process that was read (not to a newer one)."""
    current = read_process(process.pid)
    return current is not None and current.start_ticks == process.start_ticks


def pss_kib(pid: int) -> int | None:
    """Proportional set size: shared pages split among the processes sharing them, so sums over users add up."""
    try:
        with open(f"{PROC}/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, idle) clock ticks of all CPUs since boot; busy = user + nice + system + irq + softirq.

    iowait and steal are neither: they are time the CPUs did no work for anyone.
    """
    with open(f"{PROC}/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, idle, _iowait, irq, softirq = fields[:7]
    return user + nice + system + irq + softirq, idle
