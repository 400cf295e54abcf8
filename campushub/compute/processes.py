"""Knowing a process again by its pid, after a restart: alive, not a zombie, and the same process.

The hub keeps each server's pid in its database and signals it by pid after a restart. A pid can be
reused by an unrelated process once the server ended, so the server's start time (in clock ticks since
boot, /proc/<pid>/stat field 22) is kept with it: a process whose start time differs is not the server,
and is never signalled as if it were.
"""

from __future__ import annotations

from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may itself hold spaces and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def start_ticks(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot; None when there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def process_alive(pid: int, started: int | None = None) -> bool:
    """Running (not a zombie waiting to be collected) and, when `started` is given, the same process."""
    fields = _stat_fields(pid)
    if not fields or fields[0] == "Z":
        return False
    return started is None or int(fields[19]) == started


def real_uid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def top_processes_of(uid: int, markers: tuple[bytes, ...]) -> list[int]:
    """Processes of `uid` whose parent is not theirs (a server, not its kernels) and whose command line holds one
    of `markers`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if real_uid(pid) != uid or not process_alive(pid):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(marker in cmdline for marker in markers) and real_uid(parent_pid(pid) or 0) != uid:
            found.append(pid)
    return found
