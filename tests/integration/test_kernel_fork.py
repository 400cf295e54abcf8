"""Forked kernels: a forked server's Python kernels come from its kernel template, and behave as kernels started afresh.

What each test checks comes from /proc (parent, uid, cgroups, command line), not from what the kernel
says of itself; the kernel is driven over the server's REST API and websocket, as JupyterLab does.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import time
from pathlib import Path

import pytest

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import ANSWER_TIMEOUT, Kernel, Student, receive
from tests.helpers.procfs import alive, cmdline, parent, server_pid, status
from tests.helpers.sign_in import running_student

pytestmark = pytest.mark.integration

_SYS_PIDFD_GETFD = 438
_libc = ctypes.CDLL(None, use_errno=True)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent(int(entry.name)) == pid:
                    found.append(int(entry.name))
            except (OSError, KeyError):
                continue
    return found


def cgroup(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def kernel_pid(kernel: Kernel) -> int:
    return int(kernel.execute("import os; print(os.getpid())"))


def template_pid(server: int) -> int:
    """The server's kernel template: its child that, like the server, carries the fork server's command line."""
    found = [pid for pid in children(server) if b"forkserver.py" in cmdline(pid)]
    assert len(found) == 1, found
    return found[0]


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {timeout}s")


def replies_to(kernel: Kernel, msg_id: str) -> list[dict]:
    """Every message answering `msg_id`, up to the kernel going idle again."""
    ws = kernel._socket()
    found = []
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        message = receive(ws, deadline)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        found.append(message)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return found


def new_pid(kernel: Kernel, old: int, timeout: float = 60.0) -> int:
    """The kernel's pid once it is a new process (after a restart), over a fresh websocket."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kernel.close()
        try:
            pid = kernel_pid(kernel)
        except Exception:  # the websocket closes while the kernel restarts, or the kernel is not up yet
            time.sleep(0.5)
            continue
        if pid != old:
            return pid
        time.sleep(0.5)
    raise AssertionError(f"the kernel was not restarted within {timeout}s")


@pytest.fixture
def student(campus, hub) -> Student:
    student = running_student(campus, hub, "kim")
    assert "Forked kim's server" in hub.output()
    return student


def test_a_kernel_is_forked_from_the_template_as_the_user_in_the_users_cgroup(student):
    server = server_pid(f"{TEST_USER_PREFIX}kim")
    template = template_pid(server)
    kernel = student.kernel()
    try:
        pid = kernel_pid(kernel)
        assert parent(pid) == template
        assert cmdline(pid).split(b"\0")[1:4] == [b"-m", b"ipykernel_launcher", b"-f"], "shown as a kernel in ps"
        for process in (template, pid):
            assert status(process)["Uid"] == status(server)["Uid"]
            assert status(process)["Gid"] == status(server)["Gid"]
            assert cgroup(process) == cgroup(server)
        assert Path(f"/proc/{pid}/stat").read_text().split()[5] == str(pid), "the kernel leads its own session"
        assert kernel.execute("1+1") == "2"
        assert kernel.execute("import sys; print(sys.argv[1:])").strip().startswith("['-f', ")
    finally:
        kernel.close()


def test_interrupt_restart_and_shutdown(student):
    server = server_pid(f"{TEST_USER_PREFIX}kim")
    template = template_pid(server)
    kernel = student.kernel()
    pid = kernel_pid(kernel)

    msg_id = kernel.send("import time; time.sleep(30)")
    time.sleep(1.5)
    started = time.monotonic()
    response = student.server_api("POST", f"/kernels/{kernel.id}/interrupt")
    assert response.status_code == 204, response.text
    errors = [m["content"]["ename"] for m in replies_to(kernel, msg_id) if m["msg_type"] == "error"]
    assert errors == ["KeyboardInterrupt"]
    assert time.monotonic() - started < 10
    assert kernel_pid(kernel) == pid, "an interrupt keeps the kernel"

    response = student.server_api("POST", f"/kernels/{kernel.id}/restart")
    assert response.status_code == 200, response.text
    restarted = new_pid(kernel, pid)
    assert parent(restarted) == template
    wait_for(lambda: not alive(pid), what="end of the old kernel")
    assert kernel.execute("1+1") == "2"

    # A kernel that is shut down leaves as an interpreter does: the user's atexit handlers run.
    kernel.execute("import atexit, pathlib; atexit.register(pathlib.Path('atexit-ran.txt').write_text, 'yes')")
    kernel.close()
    response = student.server_api("DELETE", f"/kernels/{kernel.id}")
    assert response.status_code == 204, response.text
    wait_for(lambda: not alive(restarted), what="end of the shut-down kernel")
    assert alive(template)
    assert (Path(f"/proc/{server}/cwd").readlink() / "atexit-ran.txt").read_text() == "yes"


def test_a_kernel_that_dies_is_noticed_and_restarted(student):
    server = server_pid(f"{TEST_USER_PREFIX}kim")
    template = template_pid(server)
    kernel = student.kernel()
    try:
        pid = kernel_pid(kernel)
        kernel.send("import os; os._exit(1)")
        wait_for(lambda: not alive(pid), what="end of the kernel")
        restarted = new_pid(kernel, pid)
        assert parent(restarted) == template
        assert kernel.execute("1+1") == "2"
    finally:
        kernel.close()


def test_the_r_kernel_starts_the_usual_way(student):
    kernelspecs = student.server_api("GET", "/kernelspecs").json()["kernelspecs"]
    assert "ir" in kernelspecs, "no R kernel: `make test-deps` installs r-cran-irkernel and registers it"
    server = server_pid(f"{TEST_USER_PREFIX}kim")
    kernel = student.kernel("ir")
    try:
        assert "2" in kernel.execute("1+1")
        r_kernels = [pid for pid in children(server) if b"IRkernel" in cmdline(pid)]
        assert len(r_kernels) == 1, "the R kernel is the server's own child, started by Popen"
    finally:
        kernel.close()


def test_the_template_answers_only_its_own_user(student):
    """Only the server holds a way to the template (a socket pair, no path); anyone else who gets one is refused."""
    server = server_pid(f"{TEST_USER_PREFIX}kim")
    template = template_pid(server)
    assert not [path for path in unix_socket_paths(template) if path], "the template listens on no path"
    control = control_socket(server)

    # Root can take the server's end; the template's child still answers no one but the template's own uid.
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, control:
        socket.send_fds(control, [b"k"], [theirs.fileno()])
        theirs.close()
        ours.settimeout(10)
        ours.sendall(json.dumps({"connection_file": "/nonexistent", "env": {}, "cwd": "/"}).encode() + b"\n")
        reply = ours.recv(65536)
    assert b"another account" in reply
    assert alive(template)

    # Any other account cannot even take it.
    child = os.fork()
    if child == 0:
        code = 3
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            control_socket(server).close()
            code = 1
        except PermissionError:
            code = 0
        finally:
            os._exit(code)
    _, code = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(code) == 0, "another account took the server's way to its kernel template"


def control_socket(server: int) -> socket.socket:
    """A duplicate of the server's end of the socket pair to its template: its one SOCK_SEQPACKET socket."""
    pidfd = os.pidfd_open(server)
    found = []
    try:
        for fd in Path(f"/proc/{server}/fd").iterdir():
            try:
                if not os.readlink(fd).startswith("socket:"):
                    continue
            except OSError:
                continue
            duplicate = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(fd.name), 0)
            if duplicate < 0:
                error = ctypes.get_errno()
                raise OSError(error, os.strerror(error))
            sock = socket.socket(fileno=duplicate)
            if sock.family == socket.AF_UNIX and sock.type == socket.SOCK_SEQPACKET:
                found.append(sock)
            else:
                sock.close()
    finally:
        os.close(pidfd)
    assert len(found) == 1, found
    return found[0]


def unix_socket_paths(pid: int) -> list[str]:
    """The paths of the Unix sockets process `pid` holds ('' for one without a path), from /proc/net/unix."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    paths = []
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 7 and fields[6] in inodes:
            paths.append(fields[7] if len(fields) >= 8 else "")
    return paths
