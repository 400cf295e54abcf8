"""Free TCP ports on loopback for the hubs and daemons the benchmark and the test suite start.

One helper for both, kept with the benchmark so that the benchmark never depends on the test suite
(the tests import it as `bench.ports`). A port counts as free when this process can bind it right
now; the program it is meant for binds it a moment later. Ports once handed out are remembered for
the life of the process and never handed out again, so components started side by side (a hub, a
directory, an OpenID Provider, a database) each get ports of their own even before any of them binds.
"""

from __future__ import annotations

import socket
import threading

HOST = "127.0.0.1"
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


def _kernel_choice() -> int:
    """A port the kernel picks among those free for listening (its ephemeral range)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def free_port_block(size: int = 4) -> int:
    """A port p with p .. p+size-1 all free on 127.0.0.1 (a hub uses the three after its public port)."""
    with _lock:
        for _ in range(_ATTEMPTS):
            base = _kernel_choice()
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
