"""System accounts of the simulated students: made (or adopted) by this run, and only those removed.

Both hubs run every student's server as a system account of its own. The benchmark must not
leave accounts behind, nor ever remove one it did not make: it refuses to start when an account
of its students already exists, and it records each account it (or a hub it started) created.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from bench import procfs
from bench.errors import BenchError


def uid_of(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


class SystemAccounts:
    """The accounts this run owns; `remove_all()` stops their processes and deletes them with their homes."""

    def __init__(self) -> None:
        self.owned: list[str] = []

    @staticmethod
    def require_absent(names: Iterable[str]) -> None:
        existing = [name for name in names if uid_of(name) is not None]
        if existing:
            shown = ", ".join(existing[:5]) + (" ..." if len(existing) > 5 else "")
            raise BenchError(
                f"System accounts it would use already exist ({shown}), probably left by an earlier "
                "run that was killed before it could clean up. The benchmark only removes accounts it created "
                f"itself, so remove these first (`userdel --remove NAME` for each, e.g. `userdel --remove "
                f"{existing[0]}`), then run it again."
            )

    def create(self, name: str, home: Path) -> None:
        """A login-less account with a private home, as an administrator would make for a student."""
        result = subprocess.run(
            [
                "useradd",
                "--create-home",
                "--home-dir",
                str(home),
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                name,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BenchError(
                f"Could not create the system account {name} for the stock JupyterHub's students: useradd said "
                f"{result.stderr.strip()!r}. The benchmark needs root and a writable /etc/passwd."
            )
        self.owned.append(name)
        os.chmod(home, 0o700)

    def adopt(self, names: Iterable[str]) -> None:
        """Accounts a hub created during this run (they did not exist before it): this run removes them too."""
        for name in names:
            if name not in self.owned and uid_of(name) is not None:
                self.owned.append(name)

    def kill_processes(self, names: Iterable[str]) -> None:
        """SIGKILL whatever still runs as these accounts (servers or kernels a hub failed to stop)."""
        uids = {uid for uid in (uid_of(name) for name in names) if uid is not None}
        if not uids:
            return
        for _ in range(5):
            left = [process for process in procfs.processes() if process.real_uid in uids]
            if not left:
                return
            for process in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
            time.sleep(0.2)

    def remove_all(self) -> list[str]:
        """Remove every owned account; returns the names that could not be removed."""
        self.kill_processes(self.owned)
        stuck = []
        for name in list(self.owned):
            if uid_of(name) is None:
                self.owned.remove(name)
                continue
            home = pwd.getpwnam(name).pw_dir
            result = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
            if result.returncode not in (0, 12):  # 12: home could not be removed in full; done below
                stuck.append(name)
                continue
            if Path(home).is_dir() and Path(home).name == name:
                shutil.rmtree(home, ignore_errors=True)
            self.owned.remove(name)
        return stuck
