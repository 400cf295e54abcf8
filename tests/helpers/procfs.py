"""What the kernel knows of another process, read as root: identity, environment, memory, sockets.

Tests compare users' servers through /proc rather than through what the servers say of
themselves. Socket options come through pidfd_getfd(2): `ss` shows neither TCP_NODELAY nor which
connection is which; duplicating the process's own descriptors and asking the kernel is exact.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import re
import socket
from dataclasses import dataclass
from pathlib import Path

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


def server_pid(system_user: str) -> int:
    """The Jupyter server of `system_user`: started afresh, or forked (it keeps the fork server's command line)."""
    uid = pwd.getpwnam(system_user).pw_uid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if entry.stat().st_uid == uid and (b"jupyterhub-singleuser" in cmdline or b"forkserver.py" in cmdline):
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no Jupyter server process of {system_user}")


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def alive(pid: int) -> bool:
    """Running: not gone, and not a zombie waiting to be collected."""
    try:
        return status(pid)["State"][0] != "Z"
    except (OSError, KeyError):
        return False


def parent(pid: int) -> int | None:
    try:
        return int(status(pid)["PPid"])
    except (OSError, KeyError, ValueError):
        return None


def real_uid(pid: int) -> int | None:
    try:
        return int(status(pid)["Uid"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def cmdline(pid: int) -> bytes:
    """The command line, NUL-separated; empty once the process is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


def memory_contains(pid: int, needle: bytes) -> bool:
    """Whether `needle` is anywhere in the process's writable memory (heap, stacks, anonymous maps)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            match = re.match(r"([0-9a-f]+)-([0-9a-f]+) rw", line)
            if not match:
                continue
            start, end = (int(value, 16) for value in match.groups())
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    return True
            except OSError:
                continue
    return False


def forkserver_pid(campus_directory: Path) -> int:
    """The fork server of the campus in `campus_directory`: the process whose command line names its socket."""
    socket_path = str(campus_directory / "data" / "run" / "forkserver.sock")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if socket_path.encode() in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError("no fork server running")


def own_groups(pid: int) -> dict[str, str]:
    """controller -> cgroup path of `pid`, from /proc/<pid>/cgroup."""
    found = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(","):
            found[name] = path
    return found


def group_dir(controller: str, pid: int) -> Path:
    return Path("/sys/fs/cgroup") / controller / own_groups(pid)[controller].lstrip("/")
