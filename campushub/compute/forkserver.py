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

Kernels are forked the same way, one level down: each server, already the user, forks a *kernel template*
before it starts (`start_kernel_template`), which inherits these imports (ipykernel's among them) and forks
a kernel per request of its own server (kernel_fork.py in the servers' Jupyter configuration). It is the
user's own process, in the user's cgroups; only its server can reach it (a socket pair, no path), it
answers only its own uid, and, as here, it only takes connections and forks: the kernel's child reads the
request (and the connection file holding the kernel's key) after the fork.

This file must not import CampusHub: the user environment may not have it installed.

    python forkserver.py SOCKET_PATH
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import threading

READY = "campushub-forkserver ready"
MAX_REQUEST = 1 << 20
# The descriptor of a forked server's end of the socket pair to its kernel template (kernel_fork.py takes it
# out of the environment).
KERNEL_TEMPLATE_ENV = "CAMPUSHUB_KERNEL_TEMPLATE"
# Variables the interpreter (or a preloaded module: debugpy, IPython) read once at start: a kernel forked from
# this process has this process's values, so a kernel whose environment says otherwise starts afresh instead.
INTERPRETER_PREFIXES = ("PYTHON", "PYDEVD", "DEBUGPY", "IPYTHON_SUPPRESS_CONFIG_ERRORS")
STARTUP_SETTINGS = {key: value for key, value in os.environ.items() if key.startswith(INTERPRETER_PREFIXES)}
# What the preloaded modules put into the environment when imported (debugpy's PYDEVD_USE_FRAME_EVAL): a
# kernel started afresh has it from its own imports, so a forked kernel gets it back (set by `preload`).
PRELOAD_ENVIRONMENT: dict[str, str] = {}
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
    # What a kernel imports to start (profiled), for the kernel templates: ipykernel, its debugger (debugpy)
    # and IPython's parts it loads. None of it starts a thread or opens a file or socket when imported.
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
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
    before = dict(os.environ)
    loaded = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # an optional piece this environment does not have: the child imports what it needs
            continue
        loaded.append(name)
    PRELOAD_ENVIRONMENT.update({key: value for key, value in os.environ.items() if before.get(key) != value})
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
        del request, output  # nothing of the request goes on into the kernel template
        start_kernel_template()
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


def set_command_line(words: list[str]) -> None:
    """Show `words` as this process's command line in /proc/<pid>/cmdline, and so in `ps`, as setproctitle does.

    A forked kernel otherwise keeps the fork server's command line: to `ps`, and to anything that tells
    kernels from servers by their command line, it would look like a server. The new one is written over
    the original arguments' memory, so it is cut to their length.
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start and arg_end, fields 48 and 49 of stat(5)
        if not start or end <= start:
            return
        import ctypes

        text = b"\0".join(word.encode() for word in words)[: end - start - 1]
        ctypes.memmove(start, text + b"\0" * (end - start - len(text)), end - start)
    except (OSError, ValueError, IndexError, ImportError):
        return  # only what `ps` shows: the kernel is the same either way


def start_kernel_template() -> None:
    """In a forked server, as the user and before Jupyter starts: fork the template its kernels are forked from.

    It has to be now: the server has no threads, event loop or zmq context yet, and everything preloaded
    is shared with the template copy-on-write. The two are joined by a socket pair, not a socket with a
    path: no other process can address the template at all, and no socket file is left in a directory
    of the user's (where `users remove` would archive it). The server keeps its end, not inherited by
    what it starts (close-on-exec), at the descriptor number $CAMPUSHUB_KERNEL_TEMPLATE gives.
    """
    try:
        server_end, template_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    except OSError as exc:
        print(f"campushub-forkserver: no kernel template, kernels start afresh ({exc})", file=sys.stderr)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            server_end.close()
            status = serve_kernels(template_end) or 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 0
        except BaseException as exc:
            print(f"campushub kernel template: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    template_end.close()
    os.environ[KERNEL_TEMPLATE_ENV] = str(server_end.detach())  # stays open for the server's whole life


def serve_kernels(control: socket.socket) -> int:
    """The kernel template's loop, as `serve`'s: take a connection, fork; leave with the server that started it.

    Each message on `control` is one byte and one descriptor: a fresh connection from the server, on
    which the forked child (never this process) reads the kernel's request.
    """
    parent = os.getppid()
    os.environ.clear()  # each request brings the kernel's whole environment; the template keeps none
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C for the server's session is not for the template
    gc.collect()
    gc.freeze()
    while os.getppid() == parent:
        try:
            readable, _, _ = select.select([control], [], [], 1.0)
        except InterruptedError:
            continue
        if not readable:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 16, 1)
        except InterruptedError:
            continue
        if not data and not fds:
            break  # the server closed its end: it has exited
        for fd in fds[1:]:
            os.close(fd)
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            control.close()
            serve_kernel(socket.socket(fileno=fds[0]))
        os.close(fds[0])
    return 0


def kernel_request_problem(request: dict) -> str | None:
    """Why this template cannot be the kernel asked for (None: it can): it runs only this interpreter's ipykernel."""
    env = request.get("env")
    if not isinstance(env, dict) or not isinstance(request.get("connection_file"), str):
        return "a malformed request"
    settings = {key: value for key, value in env.items() if key.startswith(INTERPRETER_PREFIXES)}
    if settings != STARTUP_SETTINGS:
        changed = sorted(set(settings.items()) ^ set(STARTUP_SETTINGS.items()))
        return f"interpreter settings differ from the template's: {', '.join(sorted({key for key, _ in changed}))}"
    return None


def receive_kernel_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """The kernel's request and its standard streams (stdin, stdout, stderr: the server's, by SCM_RIGHTS)."""
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if data and not data.endswith(b"\n"):
        data += read_line(conn, MAX_REQUEST - len(data))
    return json.loads(data), fds


def serve_kernel(conn: socket.socket) -> None:
    """In the template's child: become the kernel asked for, as `python -m ipykernel_launcher -f FILE` would be."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    status = 1
    started = False
    try:
        if peer_uid(conn) != os.getuid():
            raise PermissionError("request from another account")
        request, fds = receive_kernel_request(conn)
        problem = kernel_request_problem(request)
        if problem:
            raise ValueError(problem)
        os.setsid()  # a session and process group of its own: the server signals the group (interrupt, kill)
        random.seed()
        os.environ.clear()
        os.environ.update(request["env"])
        for key, value in PRELOAD_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
        os.environ["JPY_PARENT_PID"] = str(os.getppid())  # ipykernel leaves when its parent (this template) does
        os.chdir(request.get("cwd") or os.getcwd())
        launcher = importlib.util.find_spec("ipykernel_launcher")
        sys.argv = [launcher.origin if launcher and launcher.origin else "ipykernel_launcher", "-f"]
        sys.argv.append(request["connection_file"])
        # `python -m` puts the working directory first on sys.path and ipykernel_launcher takes it out; here
        # the first entry is this file's directory, which a kernel has no business importing from.
        if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
            del sys.path[0]
        connection_file = request["connection_file"]
        set_command_line([sys.executable, "-m", "ipykernel_launcher", "-f", connection_file])
        sys.stdout.flush()
        sys.stderr.flush()
        streams = fds if len(fds) == 3 else [os.open(os.devnull, os.O_RDWR)] * 3
        for target, source in enumerate(streams):
            os.dup2(source, target)
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        # Only once the server holds this pid: one that gave up waiting starts the kernel afresh instead.
        if read_line(conn, 16) != b"go\n":
            raise ConnectionError("the server gave up on this kernel")
        conn.close()
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        from ipykernel.kernelapp import IPKernelApp

        # launch_new_instance, with what ipykernel took from the environment as a trait default when it was
        # imported here, long before this kernel's environment: the parent it stops with (ParentPollerUnix).
        started = True
        IPKernelApp.launch_instance(parent_handle=os.getppid())
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # tell the server (which starts the kernel afresh), then leave
        try:
            conn.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
        except OSError:
            print(f"campushub kernel template: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        # What the interpreter does on the way out, which os._exit skips: wait for the user's non-daemon
        # threads, then run atexit (IPython's history, the user's own handlers).
        if started:
            with contextlib.suppress(Exception):
                threading._shutdown()
            with contextlib.suppress(Exception):
                atexit._run_exitfuncs()
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
