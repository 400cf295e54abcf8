"""What `campushub up` does while CampusHub runs: keep its processes alive, and restart them without users noticing.

`up` is the parent of the hub and of the processes beside it (the fork server). A child that ends
when nobody asked it to (a crash, `kill -9`, the OOM killer) is started again; one that keeps
crashing (ending within a minute of its start, six times in a row) ends `up` with an error, for
systemd (Restart=on-failure) or the admin to take over. The hub itself restarts the proxy and its
services when they end (JupyterHub's own supervision), and restores the proxy's routes.

Users' servers are never children of the hub for long: they outlive every restart, and the hub finds
them again from its database. `up` is their "subreaper": a server whose parent ended becomes `up`'s
child, and `up` collects it when it ends, so that it never lingers as a zombie that looks alive.

Signals, as an admin or systemd sends them:
- SIGTERM (`systemctl stop/restart`): stop CampusHub, keep users' servers running for the next `up`;
- SIGINT (Ctrl-C in a terminal): stop users' servers first, then CampusHub;
- SIGHUP (`campushub reload`): read campus.yaml again and restart the hub; servers keep running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from campushub.hub.lifeline import CrashCount

STOP_TIMEOUT = 30.0
TICK = 0.25


@dataclass
class Child:
    """One process `up` keeps running; `launch` starts it (again)."""

    name: str
    launch: Callable[[], subprocess.Popen]
    proc: subprocess.Popen | None = None
    crashes: CrashCount = field(default_factory=CrashCount)
    started: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.proc = self.launch()

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`: a stop always ends."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class CrashLoop(Exception):
    """A child keeps ending: `up` stops rather than restart it forever."""


def reap_orphans(children: list[Child]) -> list[int]:
    """Collect ended processes that are not our own children's handles (adopted servers); returns their pids.

    WNOWAIT peeks first, so that a child `up` started is left for its Popen to collect.
    """
    ours = {child.proc.pid: child.proc for child in children if child.proc is not None}
    reaped: list[int] = []
    seen: set[int] = set()
    while True:
        try:
            found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped
        if found is None or found.si_pid == 0 or found.si_pid in seen:
            return reaped
        seen.add(found.si_pid)
        if found.si_pid in ours:
            ours[found.si_pid].poll()  # its own Popen collects it and keeps the status
            continue
        with contextlib.suppress(ChildProcessError):
            os.waitpid(found.si_pid, 0)
        reaped.append(found.si_pid)


class Supervisor:
    """Runs the children until a stop; `on_reload` and `before_full_stop` are `up`'s to give."""

    def __init__(
        self,
        children: list[Child],
        log: Callable[[str], None],
        on_reload: Callable[[Supervisor], None] | None = None,
        before_full_stop: Callable[[], None] | None = None,
    ) -> None:
        self.children = children
        self.log = log
        self.on_reload = on_reload
        self.before_full_stop = before_full_stop
        self._stop: int | None = None
        self._reload = False

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._asked_to_stop)
        signal.signal(signal.SIGINT, self._asked_to_stop)
        signal.signal(signal.SIGHUP, self._asked_to_reload)

    def _asked_to_stop(self, signum: int, _frame: object) -> None:
        if self._stop is None or signum == signal.SIGINT:
            self._stop = signum

    def _asked_to_reload(self, _signum: int, _frame: object) -> None:
        self._reload = True

    def child(self, name: str) -> Child:
        return next(child for child in self.children if child.name == name)

    def restart(self, name: str) -> None:
        """Stop and start one child (the hub, at a reload)."""
        found = self.child(name)
        found.stop()
        found.start()

    def run(self) -> int:
        """Until SIGTERM or SIGINT: 0 then; 1 when a child keeps crashing."""
        for child in self.children:
            child.start()
        try:
            while self._stop is None:
                time.sleep(TICK)
                reap_orphans(self.children)
                if self._reload:
                    self._reload = False
                    if self.on_reload is not None:
                        self.on_reload(self)
                self._restart_ended()
        except CrashLoop as exc:
            self.log(f"CampusHub stops: {exc}")
            self.stop_all()
            return 1
        if self._stop == signal.SIGINT and self.before_full_stop is not None:
            self.before_full_stop()
        self.stop_all()
        return 0

    def _restart_ended(self) -> None:
        for child in self.children:
            status = child.exited()
            if status is None or self._stop is not None:
                continue
            if not child.crashes.ended(child.started, time.monotonic()):
                raise CrashLoop(
                    f"the {child.name} ended {child.crashes.describe()} (last status {status}); see the log above"
                )
            self.log(f"The {child.name} ended unexpectedly (status {status}): starting it again.")
            child.start()

    def stop_all(self) -> None:
        """The hub first (last started), then what runs beside it."""
        for child in reversed(self.children):
            child.stop()
