"""Pre-fork server for users' Jupyter servers (run by the user environment's Python, not CampusHub's).

Starting `jupyterhub-singleuser` costs a few CPU-seconds, nearly all of it importing jupyter_server,
JupyterLab and their dependencies. A class signing in at the start of a lecture pays that once per
student, on a machine with a few cores. This process imports all of it once, then forks a server
per request, in the style of sshd or Apache's prefork: the child drops to the user's uid, gid and
groups, takes the user's environment, home and umask, and runs the same `main()` the console script
would.

Isolation is that of a normal spawn:
- the parent never reads a request: it accepts a connection and forks, and the *child* reads the
  request, so no user's environment (API token) ever sits in the parent's memory for the next child;
- only a peer with the fork server's own uid (the hub) may ask (SO_PEERCRED), on a socket in a
  0700 directory;
- the child points stdout/stderr at the descriptor the hub sent with the request (the user's own
  log, never the hub's), closes every other inherited descriptor, resets signal handlers, reseeds
  `random`, starts its own session, and replaces the environment entirely;
- root and system accounts (uid 0, or outside login.defs' UID_MIN..UID_MAX) are refused;
- the parent starts with no secrets in its environment and imports only library code.

This file must not import CampusHub: the user environment may not have it installed.

    python forkserver.py SOCKET_PATH
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import random
import select
import signal
import socket
import struct
import sys

READY = "campushub-forkserver ready"
MAX_REQUEST = 1 << 20
# Imported before any fork; optional ones are skipped when the environment lacks them. Not
# jupyterhub.singleuser.app: importing it patches jupyter_server's handlers for the legacy
# (non-extension) mode and breaks the extension mode every server here runs in.
PRELOAD = (
    "jupyterhub.singleuser",
    "jupyterhub.singleuser.extension",
    "jupyter_server.serverapp",
    "jupyter_server.services.kernels.kernelmanager",
    "jupyter_server.services.kernels.websocket",
    "jupyter_server.services.kernels.connection.channels",
    "jupyter_server.services.contents.largefilemanager",
    "jupyter_server.services.sessions.sessionmanager",
    "jupyter_server.terminal",
    "jupyter_client.provisioning.local_provisioner",
    "jupyter_events.logger",
    "jupyterlab",
    "jupyterlab.labapp",
    "jupyterlab_server",
    "jupyter_lsp",
    "jupyter_lsp.serverextension",
    "notebook_shim",
    "notebook_shim.nbserver",
    "terminado",
    "nbformat",
    "nbconvert",
    # What each server still imported after the fork (profiled): IPython alone was an eighth of a forked
    # server's start-up CPU (notebook_shim reads IPython.paths for the nbextensions path); the REST
    # handlers, psutil and ipykernel's kernelspec load when the server starts and on its first kernel;
    # jupyter_lsp's spec finders when it looks for language servers.
    "IPython",
    "ipykernel.kernelspec",
    "jinja2.ext",
    "jupyter_core.migrate",
    "jupyter_lsp.specs",
    "jupyter_server.kernelspecs.handlers",
    "jupyter_server.nbconvert.handlers",
    "jupyter_server.services.api.handlers",
    "jupyter_server.services.config.handlers",
    "jupyter_server.services.contents.handlers",
    "jupyter_server.services.events.handlers",
    "jupyter_server.services.kernels.handlers",
    "jupyter_server.services.kernelspecs.handlers",
    "jupyter_server.services.nbconvert.handlers",
    "jupyter_server.services.security.handlers",
    "jupyter_server.services.sessions.handlers",
    "jupyter_server.services.shutdown",
    "jupyter_server.view.handlers",
    "psutil",
    "tornado.platform.asyncio",
)


LOGIN_DEFS = "/etc/login.defs"
DEFAULT_UID_RANGE = (1000, 60000)


def uid_range_from(text: str) -> tuple[int, int]:
    """(UID_MIN, UID_MAX) from the text of login.defs: the uids useradd gives people, not system accounts."""
    found = dict(zip(("UID_MIN", "UID_MAX"), DEFAULT_UID_RANGE, strict=True))
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] in found:
            try:
                found[words[0]] = int(words[1], 0)
            except ValueError:
                continue  # a malformed value: the default is the safe reading
    return found["UID_MIN"], found["UID_MAX"]


def uid_range(path: str = LOGIN_DEFS) -> tuple[int, int]:
    """This machine's range of people's uids; Debian's defaults when login.defs cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as defs:
            return uid_range_from(defs.read())
    except OSError:
        return DEFAULT_UID_RANGE


def preload() -> list[str]:
    loaded = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # an optional piece this environment does not have: the child imports what it needs
            continue
        loaded.append(name)
    return loaded


def _reap(_signum: int, _frame: object) -> None:
    """Collect finished servers so they do not linger as zombies (the hub watches them by pid)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def read_line(conn: socket.socket, limit: int = MAX_REQUEST) -> bytes:
    """One message of the protocol (both ways): bytes up to a newline or the end; ValueError past `limit`."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ValueError("message too large")
    return data


def become(request: dict) -> None:
    """Drop to the user exactly as JupyterHub's LocalProcessSpawner does, then check nothing was kept."""
    uid, gid, groups = request["uid"], request["gid"], request["groups"]
    if os.getuid() == 0:
        refuse_uid(uid, uid_range())
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid or set(os.getgroups()) - set(groups) - {gid}:
            raise PermissionError("could not drop privileges")
        try:
            os.setuid(0)
        except PermissionError:
            pass
        else:
            raise PermissionError("root could be regained")
    if os.getuid() == 0 or os.geteuid() == 0:
        raise PermissionError("a server never runs as root")
    os.umask(request["umask"])
    os.chdir(request["cwd"])


def enter_groups(request: dict) -> None:
    """Still as root: into the user's cgroups (their limits cover this server and all it starts) and out of the
    fork server's protection from the OOM killer (a user's server is never shielded the way the hub is)."""
    for path in request.get("cgroup_procs", []):
        with open(path, "w") as control:
            control.write(str(os.getpid()))
    if "oom_score_adj" in request:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write(str(request["oom_score_adj"]))


def refuse_uid(uid: int, people: tuple[int, int]) -> None:
    """Root, or a system account, is never a user's server: the hub checks too, this is the last word."""
    low, high = people
    if uid == 0 or not low <= uid <= high:
        raise PermissionError(f"uid {uid} is root or a system account (people's uids are {low}-{high})")


def receive_request(conn: socket.socket) -> tuple[dict, int | None]:
    """The request and the descriptor its output goes to (the hub sends it with the first bytes, SCM_RIGHTS)."""
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 1)
    output = fds[0] if fds else None
    if data and not data.endswith(b"\n"):
        data += read_line(conn, MAX_REQUEST - len(data))
    return json.loads(data), output


def redirect_output(output: int | None) -> None:
    """The server's stdout and stderr go where the hub said (the user's log), never to the fork server's own."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    target = devnull if output is None else output
    os.dup2(target, 1)
    os.dup2(target, 2)


def serve_child(conn: socket.socket) -> None:
    """In the forked child: read the request, become the user's server, and never return."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    status = 1
    try:
        if peer_uid(conn) != os.getuid():
            raise PermissionError("request from another account")
        request, output = receive_request(conn)
        os.setsid()
        enter_groups(request)
        become(request)
        random.seed()
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        sys.stdout.flush()
        sys.stderr.flush()
        redirect_output(output)
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        conn.close()
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the request's socket and anything else inherited
        from jupyterhub.singleuser import main

        status = main() or 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # report to the hub, then leave: never back into the parent's loop
        try:
            conn.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
        except OSError:
            print(f"campushub-forkserver: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    old_umask = os.umask(0o177)
    listener.bind(path)
    os.umask(old_umask)
    listener.listen(128)
    parent = os.getppid()
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    gc.collect()
    gc.freeze()  # preloaded objects stay in shared pages instead of being copied by the collector
    print(f"{READY} ({len(sys.modules)} modules)", flush=True)
    while os.getppid() == parent:  # the hub is gone: so are we (its servers are not ours to stop)
        try:
            readable, _, _ = select.select([listener], [], [], 1.0)
        except InterruptedError:
            continue
        if not readable:
            continue
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue
        pid = os.fork()
        if pid == 0:
            listener.close()
            serve_child(conn)
        conn.close()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: forkserver.py SOCKET_PATH")
    preload()
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
