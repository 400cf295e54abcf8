"""Free TCP ports on loopback for the hubs and daemons the benchmark and the test suite start.

One helper for both, kept with the benchmark so that the benchmark never depends on the test suite
(the tests import it as `bench.ports`). A port counts as free when this process can bind it right
now; the program it is meant for binds it a moment later. Ports once handed out are remembered for
the life of the process and never handed out again, so components started side by side (a hub, a
directory, an OpenID Provider, a database) each get ports of their own even before any of them binds.

They are chosen below the kernel's ephemeral range, which outgoing connections take their source
ports from. A port in that range can be taken by any client socket between the check and the bind,
and a client polling a port in it before its server listens can even connect to itself (TCP's
simultaneous open: it then "answers" with its own request and holds the port). Both were seen: a
library service that could not bind, and JupyterHub reading `GET /services/library/` back as the reply.

Processes that run side by side (the test suite's workers) each take a slice of that range of their own
(CAMPUSHUB_PORT_SHARE), since one cannot know which ports another has handed out but not yet bound.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

HOST = "127.0.0.1"
# Set by whatever runs several of these processes at once (the test suite's parallel workers): "INDEX/COUNT".
PORT_SHARE_ENV = "CAMPUSHUB_PORT_SHARE"
_ATTEMPTS = 200
_lock = threading.Lock()
_handed_out: set[int] = set()


class NoFreePorts(RuntimeError):
    """No run of free ports was found on loopback."""


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (Linux: 32768-60999 unless changed)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def share() -> tuple[int, int]:
    """(index, count) from PORT_SHARE_ENV ("1/2"): processes running side by side each take their own slice."""
    try:
        index, count = (int(part) for part in os.environ.get(PORT_SHARE_ENV, "0/1").split("/"))
    except ValueError:
        return 0, 1
    return (index, count) if 0 <= index < count else (0, 1)


def _span(size: int) -> tuple[int, int]:
    """First and last-plus-one port blocks of `size` may start at: below the ephemeral range (or above it, if it
    starts low), then this process's slice of that when several share the machine."""
    low, high = ephemeral_range()
    start, stop = (10000, low - size) if low - size > 10000 else (high + 1, 65536 - size)
    index, count = share()
    width = (stop - start) // count
    return start + index * width, start + (index + 1) * width


def _candidate(size: int) -> int:
    return random.randrange(*_span(size))


def free_port_block(size: int = 4) -> int:
    """A port p with p .. p+size-1 all free on 127.0.0.1 (a hub uses the three after its public port)."""
    with _lock:
        for _ in range(_ATTEMPTS):
            base = _candidate(size)
            block = range(base, base + size)
            if block.stop > 65536 or not _handed_out.isdisjoint(block):
                continue
            if all(_bindable(port) for port in block):
                _handed_out.update(block)
                return base
    raise NoFreePorts(f"no {size} consecutive free TCP ports found on {HOST}")


def free_port() -> int:
    """One free port on 127.0.0.1, different from every port handed out before."""
    return free_port_block(1)


def free_ports(count: int) -> list[int]:
    """`count` free ports on 127.0.0.1, not necessarily consecutive, all different."""
    return [free_port() for _ in range(count)]
