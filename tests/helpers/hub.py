"""A campus and its hub as an operator has them: campus.yaml made by `campushub init`, the CLI, `campushub up`.

Tests drive CampusHub only from the outside, through the command line and real processes, the way an
operator would; everything here is that outside.

System accounts made for test users carry a prefix of their own per test session (`t` + 4 hex digits
+ `-`, TEST_USER_PREFIX), so that the session can remove them afterwards (tests/conftest.py).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from bench.ports import free_port_block

CAMPUSHUB = [sys.executable, "-m", "campushub"]
# Random per test process, and the parallel worker's number in it: two workers never share an account.
TEST_USER_PREFIX = f"t{secrets.token_hex(2)}{os.environ.get('PYTEST_XDIST_WORKER', '').removeprefix('gw')}-"
ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1"


def run_cli(*args: str, cwd: Path, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CAMPUSHUB, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Campus:
    """A campus directory: campus.yaml, its data dir, and the CLI run against it."""

    directory: Path
    port: int
    _yaml: YAML = field(default_factory=lambda: YAML(typ="rt"))

    @property
    def config_path(self) -> Path:
        return self.directory / "campus.yaml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        """The hub database, for a test to look into: campus.yaml's `database.url`, else the SQLite file in data_dir."""
        document = self._yaml.load(self.config_path.read_text()) or {}
        url = (document.get("database") or {}).get("url")
        data_dir = Path(self.directory, document.get("data_dir") or "data")
        return url or f"sqlite:///{data_dir / 'campushub.sqlite'}"

    def cli(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=self.directory, **kwargs)

    def update(self, **changes: object) -> None:
        """Set keys by dotted path, keeping the file's comments: update(**{"compute.idle_timeout": 30})."""
        document = self._yaml.load(self.config_path.read_text())
        for dotted, value in changes.items():
            *parents, last = dotted.split(".")
            node = document
            for part in parents:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            node[last] = value
        with self.config_path.open("w") as out:
            self._yaml.dump(document, out)

    def add_user(self, name: str, password: str) -> None:
        result = self.cli("users", "add", name, "--password-stdin", input=password + "\n")
        assert result.returncode == 0, result.stderr

    def use_database(self, url: str) -> None:
        """Keep the hub database at `url` (campus.yaml's `database.url`) from now on, as an admin would switch.

        `init` made the admin account in the default SQLite file; the campus starts over in the new
        database, so the admin account is made there again, with the same password.
        """
        self.update(**{"database.url": url})
        self.add_user(ADMIN, ADMIN_PASSWORD)


def new_campus(directory: Path) -> Campus:
    """A fresh campus made by `campushub init` in `directory`, on free loopback ports, with test users' prefix."""
    directory.mkdir()
    result = run_cli("init", cwd=directory, env={"CAMPUSHUB_ADMIN_PASSWORD": ADMIN_PASSWORD})
    assert result.returncode == 0, result.stderr
    campus = Campus(directory, free_port_block())
    campus.update(**{"listen.port": campus.port, "compute.local.user_prefix": TEST_USER_PREFIX})
    return campus


@dataclass
class RunningHub:
    campus: Campus
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return self.campus.url

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10) -> bool:
        """Whether `text` shows up in the log within `timeout` seconds (a service may log after the effect)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Ctrl-C by default (users' servers stop too); SIGTERM stops CampusHub and leaves them running."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signum)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_hub(
    campus: Campus, *args: str, user: str | None = None, env: dict | None = None, timeout: float = 60
) -> RunningHub:
    """`campushub up` as a real process; returns once it announces it is ready."""
    log_path = campus.directory / "up.out"
    command = [*CAMPUSHUB, "up", *args]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    with log_path.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=campus.directory,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = RunningHub(campus, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "is ready at" in hub.output():
            return hub
        if process.poll() is not None:
            raise AssertionError(f"campushub up exited with {process.returncode}:\n{hub.output()}")
        time.sleep(0.2)
    hub.stop()
    raise AssertionError(f"campushub up not ready after {timeout}s:\n{hub.output()}")
