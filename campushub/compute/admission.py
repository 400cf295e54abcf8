"""Admission by free memory: a server starts only while the machine can take it.

Starting one more server on a machine that is out of memory would push everybody's kernels into
swap or the OOM killer. So a start is refused, with a message that says why and to try again
shortly, when the memory available (MemAvailable: free memory plus what the kernel can reclaim)
is below what one more server may need. The count of servers is JupyterHub's own
`active_server_limit` (`compute.max_servers`).
"""

from __future__ import annotations

from pathlib import Path

from tornado.web import HTTPError

MEMINFO = Path("/proc/meminfo")


def memory_available(meminfo: Path = MEMINFO) -> int | None:
    """Bytes of memory available for new work, from /proc/meminfo; None when it cannot be read."""
    try:
        lines = meminfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def mebibytes(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB" if size >= 1 << 30 else f"{size >> 20} MiB"


def admission_problem(needed: int, available: int | None) -> str | None:
    """Why a server cannot start now, or None when it can (or the machine does not say)."""
    if not needed or available is None or available >= needed:
        return None
    return (
        f"The machine is short of memory right now ({mebibytes(available)} free, {mebibytes(needed)} needed to start "
        "a server). Nothing of yours is lost: please try again in a few minutes."
    )


class MachineBusy(HTTPError):
    """A start turned away for want of memory: a 503 whose message JupyterHub shows the student."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message, reason="Machine busy")
        self.jupyterhub_message = message
