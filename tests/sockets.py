"""Socket options of another process's open connections, read as root through pidfd_getfd(2).

`ss` shows neither TCP_NODELAY nor which connection is which; duplicating the process's own file
descriptors and asking the kernel is exact and needs no timing.
"""

from __future__ import annotations

import ctypes
import os
import socket
from dataclasses import dataclass

_SYS_PIDFD_OPEN = 434
_SYS_PIDFD_GETFD = 438
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Connection:
    local_port: int
    peer_port: int
    nodelay: bool


def _syscall(number: int, *args: int) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def tcp_sockets(pid: int) -> tuple[set[int], list[Connection]]:
    """(ports it listens on, its connected TCP sockets) for process `pid`."""
    pidfd = _syscall(_SYS_PIDFD_OPEN, pid, 0)
    listening: set[int] = set()
    connected: list[Connection] = []
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
                duplicate = _syscall(_SYS_PIDFD_GETFD, pidfd, int(name), 0)
            except OSError:
                continue  # closed meanwhile
            with socket.socket(fileno=duplicate) as sock:
                if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
                    continue
                local_port = sock.getsockname()[1]
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    listening.add(local_port)
                    continue
                try:
                    peer_port = sock.getpeername()[1]
                except OSError:
                    continue
                nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                connected.append(Connection(local_port, peer_port, nodelay))
    finally:
        os.close(pidfd)
    return listening, connected


def accepted_connections(pid: int) -> list[Connection]:
    """The connections clients opened to `pid`'s listening ports (not those it opened itself)."""
    listening, connected = tcp_sockets(pid)
    return [connection for connection in connected if connection.local_port in listening]
