"""Processes that must not outlive the process that started them.

`campushub up` starts the hub and the fork server; the hub starts the proxy and the services. If `up`
is killed outright (SIGKILL, the OOM killer), nothing runs its clean-up, and a hub or proxy left
behind would hold the ports the next `up` needs. The kernel's parent-death signal closes that gap:
each of these processes asks for SIGTERM when its parent dies, so the chain unwinds on its own
(`up` -> hub -> proxy and services), each part stopping as it would on an ordinary SIGTERM.

Users' servers never get it: they are meant to outlive the hub (restarts keep them).

    python lifeline.py COMMAND [ARGS...]              # run COMMAND so that it ends with this process's parent
    python lifeline.py --restart COMMAND [ARGS...]    # the same, and start COMMAND again when it crashes

A service (the idle culler, the courses warmer) runs with `--restart`: JupyterHub restarts a service
that ended only at its next poll, 30 seconds later, so the lifeline does it itself within a second,
with the same environment (and so the same token). One that keeps crashing (it ends within
`SETTLE_TIME` seconds of starting, `MAX_RESTARTS + 1` times in a row) is left ended, for the hub to see and log.

This file imports nothing of CampusHub's, so that it starts in milliseconds under any Python.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Have the kernel send `signum` to this process when its parent ends (kept across exec)."""
    _prctl(PR_SET_PDEATHSIG, signum)


def adopt_orphans() -> None:
    """Become the parent of descendants whose own parent ends (users' servers after a hub restart), so
    that this process reaps them: whatever PID 1 is, a server that ends is then never left a zombie
    that would still look alive to the hub."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def on_lifeline(argv: Sequence[str], restart: bool = False) -> list[str]:
    """`argv`, run so that it ends when its parent does (isolated mode: only the standard library is needed)."""
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), *(["--restart"] if restart else []), *argv]


MAX_RESTARTS = 5
SETTLE_TIME = 60.0


class CrashCount:
    """Counts starts that failed: a process that ended within `SETTLE_TIME` seconds of starting.

    Counting failed starts in a row, rather than ends within a fixed window of the clock, holds however
    slowly the process starts: a hub that needs 15 seconds to import on a loaded machine and then dies
    is still caught after its sixth try, and one that ran for an hour before a crash starts afresh.
    """

    def __init__(self) -> None:
        self.in_a_row = 0

    def ended(self, started: float, now: float) -> bool:
        """Note an end; True while one more start is worth trying."""
        self.in_a_row = self.in_a_row + 1 if now - started < SETTLE_TIME else 1
        return self.in_a_row <= MAX_RESTARTS

    def describe(self) -> str:
        return f"{self.in_a_row} times in a row within {SETTLE_TIME:.0f} seconds of starting"


def keep_running(argv: list[str]) -> int:
    """Run `argv` as a child, again after each crash; a stop asked of us is passed on, then we end with it."""
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    crashes = CrashCount()
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv, preexec_fn=die_with_parent)
        status = child.wait()
        if stopping or status == 0:
            return status
        if not crashes.ended(started, time.monotonic()):
            print(f"{argv[0]} ended {crashes.describe()}: leaving it ended", file=sys.stderr, flush=True)
            return status if status > 0 else 128 - status
        print(f"{argv[0]} ended with status {status}: starting it again", file=sys.stderr, flush=True)
        time.sleep(1)


def main(argv: list[str]) -> None:
    restart = bool(argv) and argv[0] == "--restart"
    argv = argv[1:] if restart else argv
    if not argv:
        sys.exit("usage: lifeline.py [--restart] COMMAND [ARGS...]")
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        sys.exit(1)
    if restart:
        sys.exit(keep_running(argv))
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
