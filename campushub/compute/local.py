"""The `local` backend: notebook servers as processes on this machine.

Run as root, each campus user gets a system account of their own (prefix +
name, home 0700) and their server runs as that account, so users cannot read
each other's files. Run as an ordinary user ("personal mode"), every server
runs as that one account with a directory per user under data_dir: handy on
a laptop, but users are not isolated, and `campushub up` says so.

With fast spawn on, servers are forked from the fork server `campushub up`
started (compute/forkserver.py) instead of being started afresh; when it
cannot be reached, a server starts the usual way and the log says why.
Either way the launch waits its turn in the start line (compute/startline.py).

Never as root or a system account, on either path: the account is checked
before the start (compute/accounts_guard.py), the fork server refuses such a
uid, and a fresh start's last step before exec refuses to run as root. Each
server's output goes to its user's own log (compute/user_logs.py), never
into the hub's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from jupyterhub.utils import random_port
from tornado.web import HTTPError
from traitlets import Bool, Integer, List, Unicode

from campushub.compute.accounts_guard import UnusableAccount
from campushub.compute.admission import MachineBusy, admission_problem, memory_available
from campushub.compute.cgroups import Limits, UserCgroups
from campushub.compute.cgroups import detect as detect_cgroups
from campushub.compute.forkserver import enter_groups as enter_groups_request
from campushub.compute.forkserver import read_line, refuse_uid, uid_range
from campushub.compute.processes import process_alive, start_ticks, top_processes_of
from campushub.compute.startline import StartLineMixin
from campushub.compute.system_users import ensure_system_user
from campushub.compute.user_logs import DEFAULT_MAX_BYTES, open_user_output

FORK_TIMEOUT = 30.0
GROUP_EMPTY_WAIT = 5.0
# Users' servers (and their kernels, which inherit it) go first when the machine runs out of memory; CampusHub's
# own processes are shielded (`up` lowers its own score, which the hub, proxy and fork server inherit).
SERVER_OOM_SCORE_ADJ = 300
# How a user's server shows in its command line: started afresh, or forked from the fork server.
SERVER_MARKERS = (b"jupyterhub-singleuser", b"forkserver.py")


class ForkUnavailable(Exception):
    """The fork server cannot start this server; the spawner starts it afresh instead."""


class AccountRefused(HTTPError):
    """The student's server must not run as its system account: a 403 whose message JupyterHub shows them."""

    def __init__(self, account: str) -> None:
        message = (
            f"Your server cannot start: the system account {account} on this machine cannot be used for it. "
            "Please ask an admin of this site."
        )
        super().__init__(403, message, reason="Account refused")
        self.jupyterhub_message = message


def never_as_root(preexec: Callable[[], None], people: tuple[int, int] | None) -> Callable[[], None]:
    """`preexec`, then a last check before exec: still root, or a system uid (when `people` is given), aborts."""

    def guarded() -> None:
        preexec()
        if os.getuid() == 0 or os.geteuid() == 0:
            raise PermissionError("refusing to run a user's server as root")
        if people is not None:
            refuse_uid(os.getuid(), people)

    return guarded


def enter_groups(procs: list[str], oom_score_adj: int) -> None:
    """In a fresh server's child before exec, as the fork server's child does (one implementation for both)."""
    enter_groups_request({"cgroup_procs": procs, "oom_score_adj": oom_score_adj})


def current_umask() -> int:
    """The hub's umask, which a server started afresh inherits (read without changing it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    return 0o022


def ask_forkserver(path: str, request: dict, output: int) -> dict:
    """One request, one line of JSON back: {"pid": ...} from the new server, or {"error": ...}.

    `output` (the write end of the user's log pipe) travels with the request's first bytes (SCM_RIGHTS).
    """
    payload = json.dumps(request).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(FORK_TIMEOUT)
            conn.connect(path)
            sent = socket.send_fds(conn, [payload], [output])
            if sent < len(payload):
                # Only what is left: even an empty sendall is a write, and a fast child that has read the
                # request, answered and closed its end makes it fail with EPIPE, a fork taken for a failure.
                conn.sendall(payload[sent:])
            data = read_line(conn)
    except (OSError, ValueError) as exc:
        raise ForkUnavailable(f"fork server at {path}: {exc}") from None
    try:
        reply = json.loads(data)
    except ValueError:
        raise ForkUnavailable("the fork server gave no answer") from None
    if "pid" not in reply:
        raise ForkUnavailable(reply.get("error", "no pid in the answer"))
    return reply


class CampusLocalSpawner(StartLineMixin, LocalProcessSpawner):
    """LocalProcessSpawner that maps campus users to system accounts (or to per-user dirs), started in line."""

    isolate_users = Bool(
        True, help="Run each user's server as their own system account (requires running as root)."
    ).tag(config=True)
    user_prefix = Unicode("nb-", help="Prefix of the system account made for each campus user.").tag(config=True)
    home_base = Unicode("/home", help="Parent directory of the system accounts' homes.").tag(config=True)
    personal_root = Unicode(help="Parent of per-user directories in personal mode.").tag(config=True)
    forkserver_socket = Unicode("", help="The fork server's socket; empty: every server starts afresh.").tag(
        config=True
    )
    adopt_accounts = List(
        Unicode(), help="Existing system accounts CampusHub did not create that servers may still run as."
    ).tag(config=True)
    user_logs_dir = Unicode("", help="Where each user's server output goes (<name>.log); empty: discarded.").tag(
        config=True
    )
    user_log_max_bytes = Integer(DEFAULT_MAX_BYTES, help="Size at which a user's log is rotated to .log.1.").tag(
        config=True
    )

    @property
    def system_username(self) -> str:
        if not self.isolate_users:
            return pwd.getpwuid(os.getuid()).pw_name
        return self.user_prefix + self.user.name

    @property
    def user_home(self) -> str:
        if self.isolate_users:
            return pwd.getpwnam(self.system_username).pw_dir
        return str(Path(self.personal_root) / self.user.name)

    pid_started = Integer(0, help="When the server's process started (clock ticks since boot): its identity.")
    process_limit = Integer(0, help="Most processes and threads of one user's server and all it starts; 0: none.").tag(
        config=True
    )
    oom_score_adj = Integer(
        SERVER_OOM_SCORE_ADJ, help="The OOM killer's preference for users' servers over CampusHub's own processes."
    ).tag(config=True)
    min_free_memory = Integer(0, help="Bytes of available memory a start needs; 0: no check.").tag(config=True)
    cgroup_procs = List(Unicode(), help="The cgroup.procs files this user's next server joins.")
    _cgroups: ClassVar[dict[Limits, UserCgroups]] = {}  # one per set of limits (profiles differ), per hub process

    @property
    def limits(self) -> Limits:
        return Limits(memory=self.mem_limit or None, cpu=self.cpu_limit or None, processes=self.process_limit or None)

    def user_cgroups(self) -> UserCgroups | None:
        """The hub's users' cgroups, made on first use; None when no limit is set."""
        if not self.limits.wanted:
            return None
        cls = type(self)
        if self.limits not in cls._cgroups:
            cls._cgroups[self.limits] = UserCgroups(detect_cgroups(), self.limits)
        return cls._cgroups[self.limits]

    async def start(self) -> tuple[str, int]:
        """Prepare the account, then launch in the start line (which keeps the place until the server answers)."""
        await self.prepare_account()
        return await self.start_in_line(self.launch)

    def get_state(self) -> dict:
        state = super().get_state()
        if self.pid and self.pid_started:
            state["pid_started"] = self.pid_started
        return state

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.pid_started = int(state.get("pid_started") or 0)

    def clear_state(self) -> None:
        super().clear_state()
        self.pid_started = 0

    def note_started(self) -> None:
        """Keep the new server's start time with its pid, so that a restarted hub knows it again."""
        self.pid_started = start_ticks(self.pid) or 0 if self.pid else 0

    async def _signal(self, sig: int) -> bool:
        """Only the server itself is ever signalled: after a restart its pid may belong to another process by now
        (a zombie, or a reused pid), which counts as the server having ended."""
        if self.pid and not process_alive(self.pid, self.pid_started or None):
            return False
        return await super()._signal(sig)

    async def prepare_account(self) -> None:
        """The account and home the server runs in, and its cgroups: made or checked before the start takes a
        place in line."""
        if self.isolate_users:
            await self.ensure_account()
            self.warn_if_home_is_open()
            await self.end_orphaned_servers()
        else:
            Path(self.user_home).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.notebook_dir = self.user_home
        cgroups = self.user_cgroups()
        self.cgroup_procs = [] if cgroups is None else cgroups.prepare(self.user.name)

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        cgroups = self.user_cgroups()
        if cgroups is None:
            return
        # Kernels end a moment after their server: the groups are removed once empty (a process the user left
        # running keeps them, and the next start uses them again).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GROUP_EMPTY_WAIT
        while cgroups.members(self.user.name) and loop.time() < deadline:
            await asyncio.sleep(0.2)
        cgroups.remove(self.user.name)

    async def end_orphaned_servers(self) -> None:
        """A server whose start the hub never recorded (the hub was killed mid-start) would run on unreachable,
        holding memory and a port: a new start ends it first. Only a server process of this user's own account
        that the hub does not know; kernels and the user's other processes are left alone."""
        uid = pwd.getpwnam(self.system_username).pw_uid
        known = {self.pid} if self.pid else set()
        # A walk through /proc: off the hub's event loop, which a room of starts at once must not wait on.
        found = await asyncio.get_running_loop().run_in_executor(None, top_processes_of, uid, SERVER_MARKERS)
        orphans = [pid for pid in found if pid not in known]
        for pid in orphans:
            self.log.warning("Ending %s's orphaned server (pid %s) left by an interrupted start", self.user.name, pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + 5
        while any(process_alive(pid) for pid in orphans) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        for pid in orphans:
            if process_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def warn_if_home_is_open(self) -> None:
        """An account that existed before CampusHub keeps its mode; say so rather than change it."""
        mode = os.stat(self.user_home).st_mode & 0o777
        if mode & 0o077:
            self.log.warning(
                "Home %s of %s has mode %o: other accounts can read it. `chmod 700 %s` makes it private.",
                self.user_home,
                self.system_username,
                mode,
                self.user_home,
            )

    async def ensure_account(self) -> None:
        """Make the user's system account, or refuse one a server must not run as (the log says why)."""
        account = self.system_username
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, ensure_system_user, account, Path(self.home_base) / account, list(self.adopt_accounts)
            )
        except UnusableAccount as exc:
            self.log.error("Refused to start %s's server: %s", self.user.name, exc)
            raise AccountRefused(account) from None

    def open_output(self) -> int:
        """The write end of a fresh pipe into the user's own log (or /dev/null when no log directory is set)."""
        if not self.user_logs_dir:
            return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        return open_user_output(Path(self.user_logs_dir), self.user.name, self.user_log_max_bytes)

    def admit(self) -> None:
        """Refuse the start, with a message, while the machine lacks the memory one more server may need."""
        problem = admission_problem(self.min_free_memory, memory_available())
        if problem:
            self.log.warning("Turned away %s's start: %s", self.user.name, problem)
            raise MachineBusy(problem)

    async def launch(self) -> tuple[str, int]:
        """By fork when the fork server is set up and can do it, else afresh (the log says why)."""
        self.admit()  # in its place in line: what the servers ahead took is counted
        if self.forkserver_socket:
            try:
                address = await self.fork_start()
            except ForkUnavailable as exc:
                self.log.warning("Fast spawn unavailable for %s (%s): starting afresh", self.user.name, exc)
                if self.isolate_users:
                    await self.end_orphaned_servers()  # a child the fork server started all the same
            else:
                self.note_started()
                return address
        address = await self.fresh_start()
        self.note_started()
        return address

    async def fresh_start(self) -> tuple[str, int]:
        """LocalProcessSpawner.start, with the server's stdout and stderr going to the user's log."""
        output = self.open_output()
        saved = self.popen_kwargs
        self.popen_kwargs = {**saved, "stdout": output, "stderr": output}
        try:
            return await super().start()
        finally:
            self.popen_kwargs = saved
            os.close(output)

    async def fork_start(self) -> tuple[str, int]:
        """LocalProcessSpawner.start, with the process forked by the fork server instead of started by Popen."""
        if self.shell_cmd or not self.cmd or not self.cmd[0].endswith("jupyterhub-singleuser"):
            raise ForkUnavailable("a custom server command")
        if self.port == 0:
            self.port = random_port()
        entry = pwd.getpwnam(self.system_username)
        request = {
            "argv": [*self.cmd, *self.get_args()],
            "env": self.get_env(),
            "uid": entry.pw_uid,
            "gid": entry.pw_gid,
            "groups": os.getgrouplist(entry.pw_name, entry.pw_gid) if self.isolate_users else os.getgroups(),
            "cwd": self.user_home,
            "umask": current_umask(),
            "cgroup_procs": list(self.cgroup_procs),
            "oom_score_adj": self.oom_score_adj,
        }
        output = self.open_output()
        try:
            reply = await asyncio.get_running_loop().run_in_executor(
                None, ask_forkserver, self.forkserver_socket, request, output
            )
        finally:
            os.close(output)
        self.log.info("Forked %s's server as pid %s", self.user.name, reply["pid"])
        self.proc = None  # not our child: poll and stop go by pid, as for a server the hub found running
        self.pid = reply["pid"]
        return (self.ip or "127.0.0.1", self.port)

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        procs, adj = list(self.cgroup_procs), self.oom_score_adj
        if self.isolate_users:
            become_user = set_user_setuid(self.system_username)

            def enter_and_become() -> None:
                enter_groups(procs, adj)
                become_user()

            return never_as_root(enter_and_become, uid_range())
        home = self.user_home

        def enter_user_dir() -> None:
            enter_groups(procs, adj)
            os.chdir(home)

        return never_as_root(enter_user_dir, None)

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        entry = pwd.getpwnam(self.system_username)
        env["USER"] = entry.pw_name
        env["LOGNAME"] = entry.pw_name
        env["HOME"] = self.user_home
        env["SHELL"] = entry.pw_shell or "/bin/bash"
        return env
