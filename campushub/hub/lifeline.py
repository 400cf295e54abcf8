"""Processes that must not outlive the process that started them.

`campushub up` starts the hub and the fork server; the hub starts the proxy and the services. If `up`
is killed outright (SIGKILL, the OOM killer), nothing runs its clean-up, and a hub or proxy left
behind would hold the ports the next `up` needs. The kernel's parent-death signal closes that gap:
each of these processes asks for SIGTERM when its parent dies, so the chain unwinds on its own
(`up` -> hub -> proxy and services), each part stopping as it would on an ordinary SIGTERM.

Users' servers never get it: they are meant to outlive the hub (restarts keep them).

    python lifeline.py COMMAND [ARGS...]    # run COMMAND so that it ends with this process's parent

This file imports nothing of CampusHub's, so that it starts in milliseconds under any Python.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
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


def on_lifeline(argv: Sequence[str]) -> list[str]:
    """`argv`, run so that it ends when its parent does (isolated mode: only the standard library is needed)."""
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), *argv]


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: lifeline.py COMMAND [ARGS...]")
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        sys.exit(1)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
