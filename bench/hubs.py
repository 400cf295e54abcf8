"""The two hubs under test, each set up in a temporary directory, started, stopped and cleaned away.

CampusHub is driven only through its CLI (`campushub init`, `users add`, `up`), as an operator would.
Stock JupyterHub 6 runs from the same environment with the same proxy, LocalProcessSpawner and a
shared-password authenticator: the plainest hub that still gives each student a server of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
from ruamel.yaml import YAML

from bench import procfs
from bench.accounts import SystemAccounts
from bench.errors import BenchError
from bench.ports import NoFreePorts, free_port_block
from campushub.compute.cgroups import USERS
from campushub.compute.cgroups import detect as detect_cgroups

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
PROXY = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
STOP_GRACE_S = 30
START_TIMEOUT_S = 180
# Variables of an outer hub or campus that must not leak into the hubs under test.
_FOREIGN_ENV = ("CAMPUSHUB_SNAPSHOT", "CONFIGPROXY_AUTH_TOKEN", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_NAME")
# The per-user limits CampusHub runs with under --limits, as docs/operations.md suggests for a campus: generous
# beside what an idle student uses (about 70 MiB, 20 processes and threads), so they never bind in the burst and
# what they cost is only their bookkeeping (a cgroup per user, each server moved into it when it starts).
LIMITS = {"memory_limit": "2G", "cpu_limit": 1, "process_limit": 256}
# How `campushub check` names each limit in its lines ("memory limits (enforceable here with ...)").
_CHECK_WORDS = {"memory_limit": "memory", "cpu_limit": "CPU", "process_limit": "process"}


@dataclass
class LimitsState:
    """Whether a hub ran with per-user limits, with which values, and why when it did not: part of every result.

    `asked` is the operator's choice: True (--limits), False (--no-limits), None (wherever this machine can
    enforce them, which `campushub check` says).
    """

    asked: bool | None
    on: bool = False
    values: dict[str, object] = field(default_factory=dict)
    why: str = ""

    def as_dict(self) -> dict:
        return {"asked": self.asked, "on": self.on, "values": dict(self.values), "why": self.why}

    def describe(self) -> str:
        if not self.on:
            return f"off ({self.why})" if self.why else "off"
        names = {"memory_limit": "memory {}", "cpu_limit": "CPU {} core(s)", "process_limit": "{} processes"}
        shown = ", ".join(names[key].format(value) for key, value in self.values.items() if key in names)
        return f"on: {shown} per user ({self.why})"


def unenforceable_limits(check_output: str) -> dict[str, str]:
    """The limits `campushub check` (run with none configured) says this machine cannot enforce, with its reason.

    A line it does not print at all counts as not enforceable: better a run without limits that says so than a
    hub that refuses to start.
    """
    problems = {}
    for key, word in _CHECK_WORDS.items():
        marker = f"{word} limits ("
        line = next((line.strip() for line in check_output.splitlines() if marker in line), None)
        if line is None:
            problems[key] = "`campushub check` did not say whether it can be enforced"
        elif "NOT enforceable" in line:
            problems[key] = line.split("NOT enforceable here: ", 1)[-1].rstrip(")")
    return problems


def hub_port() -> int:
    """A public port for a hub under test, with the three after it free too (its hub API, proxy API and library)."""
    try:
        return free_port_block(4)
    except NoFreePorts as error:
        raise BenchError(
            "No block of four free TCP ports was found on 127.0.0.1; free some ports and run it again."
        ) from error


def hub_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in _FOREIGN_ENV}


def closed_parent(path: Path) -> Path | None:
    """The first directory above `path` that other accounts cannot enter, if any."""
    for parent in reversed(path.resolve().parents):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return parent
    return None


class Hub:
    """One hub under test. Subclasses say how to set it up; starting, stopping and cleaning are shared."""

    label = ""
    title = ""
    ready_timeout_s = START_TIMEOUT_S

    def __init__(
        self, students: Sequence[str], password: str, accounts: SystemAccounts, limits: bool | None = None
    ) -> None:
        self.students = list(students)
        self.password = password
        self.accounts = accounts
        self.limits = LimitsState(asked=limits)
        self.workdir: Path | None = None
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hub_username(self, student: str) -> str:
        raise NotImplementedError

    def account(self, student: str) -> str:
        raise NotImplementedError

    def accounts_of_students(self) -> list[str]:
        return [self.account(student) for student in self.students]

    def prepare(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def start(self) -> None:
        """Start the hub in a session of its own (Ctrl-C must reach the benchmark, not the hub) and wait."""
        assert self.workdir is not None
        self.log_path = self.workdir / "hub.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=hub_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.title} exited with status {self.process.returncode} before it was ready: "
                    f"{self.why_not_started()} Its log is saved with the results."
                )
            if self.is_ready():
                return
            time.sleep(0.2)
        raise BenchError(
            f"{self.title} was not ready {self.ready_timeout_s} s after it started: {self.why_not_started()} "
            "Its log is saved with the results."
        )

    def why_not_started(self) -> str:
        lines = [line.strip() for line in self.log_text().splitlines() if line.strip()]
        for line in reversed(lines):
            if "not free" in line or "Address already in use" in line:
                return f"a port it needs is in use ({line[-200:]}). Run the benchmark again to pick other ports."
        telling = [line for line in lines if "rror" in line or "[E " in line or "[C " in line]
        last = (telling or lines or ["(its log is empty)"])[-1]
        return f"its log ends with {last[-300:]!r}."

    def stop(self) -> None:
        """SIGTERM (the hub stops its servers and proxy), then SIGKILL whatever of it is left."""
        if self.process is None:
            return
        tree = procfs.descendants(self.process.pid) if self.process.poll() is None else []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # The proxy, services and servers run in sessions of their own: end any survivor by its pid.
        for process in tree:
            if procfs.is_same_process(process):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
        self.accounts.kill_processes(self.accounts_of_students())

    def cleanup(self) -> None:
        """Stop the hub, remove the accounts it used, remove its directory. Safe to call more than once."""
        try:
            self.stop()
        finally:
            self.adopt_accounts()
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None

    def adopt_accounts(self) -> None:
        """Accounts the hub itself created during the run; the base class makes none."""

    def _run(self, *command: str, input: str | None = None, env: dict[str, str] | None = None) -> None:
        result = subprocess.run(
            command,
            cwd=self.workdir,
            env={**hub_environment(), **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise BenchError(
                f"`{Path(command[0]).name} {' '.join(command[1:3])}` failed while setting up {self.title}: "
                f"{message[-1] if message else f'exit status {result.returncode}'}."
            )


class CampusHub(Hub):
    """CampusHub from this checkout, set up with its own CLI; it makes its `bc-` accounts on first spawn."""

    label = "campushub"
    title = "CampusHub"
    prefix = "bc-"
    group_exit_wait_s = 5.0

    def __init__(
        self, students: Sequence[str], password: str, accounts: SystemAccounts, limits: bool | None = None
    ) -> None:
        super().__init__(students, password, accounts, limits)
        self.groups_before: set[Path] = set()

    def hub_username(self, student: str) -> str:
        return student

    def account(self, student: str) -> str:
        return self.prefix + student

    def prepare(self) -> None:
        self.accounts.require_absent(self.accounts_of_students())
        self.groups_before = set(self.student_groups())
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-campushub-"))
        self.port = hub_port()
        campushub = str(VENV_BIN / "campushub")
        self._run(campushub, "init", env={"CAMPUSHUB_ADMIN_PASSWORD": os.urandom(12).hex()})
        config = self.workdir / "campus.yaml"
        yaml = YAML(typ="rt")
        document = yaml.load(config.read_text())
        document.setdefault("listen", {})["port"] = self.port
        compute = document.setdefault("compute", {})
        compute["idle_timeout"] = "1h"
        if compute.get("local") is None:
            compute["local"] = {}
        compute["local"]["user_prefix"] = self.prefix
        if self._limits_wanted():
            compute.update(LIMITS)
            self.limits.on, self.limits.values = True, dict(LIMITS)
            self.limits.why = "enforced with per-user cgroups"
        with config.open("w") as out:
            yaml.dump(document, out)
        passwords = "".join(f"{self.password}\n" for _ in self.students)
        self._run(campushub, "users", "add", *self.students, "--password-stdin", input=passwords)

    def _limits_wanted(self) -> bool:
        """--limits: yes (`up` refuses them, saying why, where they cannot be enforced); --no-limits: no; neither:
        wherever `campushub check` says this machine can enforce all three, so that `make bench` still runs (and
        says so) where it cannot, such as a cgroup v2 machine outside a service with `Delegate=`."""
        if self.limits.asked is not None:
            if not self.limits.asked:
                self.limits.why = "--no-limits"
            return self.limits.asked
        result = subprocess.run(
            [str(VENV_BIN / "campushub"), "check"],
            cwd=self.workdir,
            env=hub_environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        problems = unenforceable_limits(result.stdout + result.stderr)
        if problems:
            self.limits.why = "this machine cannot enforce them: " + "; ".join(
                f"{key}: {reason}" for key, reason in problems.items()
            )
            return False
        return True

    def command(self) -> list[str]:
        return [str(VENV_BIN / "campushub"), "up"]

    def start(self) -> None:
        self.read_limits()
        super().start()

    def read_limits(self) -> None:
        """What campus.yaml holds when the hub starts is what the figures were measured with, whatever a subclass
        changed after this class's `prepare`: the results must never claim limits the hub did not have."""
        assert self.workdir is not None
        compute = YAML(typ="safe").load((self.workdir / "campus.yaml").read_text()).get("compute") or {}
        values = {key: compute[key] for key in LIMITS if compute.get(key) is not None}
        if values != self.limits.values:
            self.limits.why = "as campus.yaml sets them" if values else "none in campus.yaml"
        self.limits.on, self.limits.values = bool(values), values

    def is_ready(self) -> bool:
        return "is ready at" in self.log_text()

    def why_not_started(self) -> str:
        why = super().why_not_started()
        if self.limits.on and "enforce" in self.log_text():
            why += " Run the benchmark with --no-limits to measure CampusHub without per-user limits."
        return why

    def adopt_accounts(self) -> None:
        self.accounts.adopt(self.accounts_of_students())

    def student_groups(self) -> list[Path]:
        """The students' cgroups that exist, in every hierarchy where CampusHub (started from this process, so in
        the same cgroups) would make them: `<its cgroup>/users/<name>`."""
        bases = {hierarchy.base for hierarchy in detect_cgroups().usable.values()}
        return [
            base / USERS / student for base in bases for student in self.students if (base / USERS / student).is_dir()
        ]

    def cleanup(self) -> None:
        """Also remove the students' cgroups this run made: SIGTERM keeps servers running for the next `up`, so
        CampusHub leaves their groups, and once the benchmark has ended the servers they are empty and unused."""
        try:
            super().cleanup()
        finally:
            self.remove_groups()

    def remove_groups(self) -> None:
        left = [group for group in self.student_groups() if group not in self.groups_before]
        deadline = time.monotonic() + self.group_exit_wait_s
        while left:
            busy = []
            for group in left:
                try:
                    group.rmdir()
                except FileNotFoundError:
                    continue
                except OSError:
                    busy.append(group)  # a killed process leaves its group a moment after it ends
            left = busy
            if left and time.monotonic() > deadline:
                print(f"Could not remove the cgroups {', '.join(map(str, left))}: remove them with rmdir once empty.")
                return
            if left:
                time.sleep(0.2)


class WarmedCampusHub(CampusHub):
    """CampusHub with the students' course warmed before the burst, as before a lecture (`courses.warm_before`)."""

    label = "campushub-warmed"
    title = "CampusHub, warmed"
    course = "lecture"
    warm_timeout_s = 600.0

    def prepare(self) -> None:
        super().prepare()
        config = self.workdir / "campus.yaml"
        yaml = YAML(typ="rt")
        document = yaml.load(config.read_text())
        document["courses"] = {self.course: {"title": "The benchmark's lecture", "members": list(self.students)}}
        with config.open("w") as out:
            yaml.dump(document, out)

    def start(self) -> None:
        super().start()
        self._run(str(VENV_BIN / "campushub"), "courses", "warm", self.course)
        self._wait_until_warm()

    def _read_only_token(self) -> str:
        """No service keeps a token on disk: `campushub token` makes one that may only look."""
        command = [str(VENV_BIN / "campushub"), "token", "--user", "admin", "--note", "benchmark"]
        command += ["--scopes", "read:users", "--scopes", "read:servers"]
        result = subprocess.run(
            command, cwd=self.workdir, env=hub_environment(), capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise BenchError(f"{self.title}: `campushub token` failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def _wait_until_warm(self) -> None:
        """Every student's server up, asked of the hub's API with a read-only token of the campus's admin."""
        token = self._read_only_token()
        deadline = time.monotonic() + self.warm_timeout_s
        while time.monotonic() < deadline:
            ready = 0
            for student in self.students:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{self.port + 1}/hub/api/users/{student}",
                    headers={"Authorization": f"token {token}"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    server = json.load(response)["servers"].get("") or {}
                ready += bool(server.get("ready"))
            if ready == len(self.students):
                return
            time.sleep(1)
        raise BenchError(
            f"{self.title}: the course's servers were not all up {self.warm_timeout_s:.0f} s after warming"
        )


STOCK_CONFIG = """\
# Stock JupyterHub for the lecture-start benchmark: LocalProcessSpawner, one shared student password.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///{workdir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/jupyterhub_cookie_secret"
# DummyAuthenticator.password is deprecated since JupyterHub 5.3; this is its stock replacement.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
c.JupyterHub.concurrent_spawn_limit = 100
"""


class StockJupyterHub(Hub):
    """JupyterHub 6 as installed, LocalProcessSpawner; hub usernames are the system accounts (`bs-s001`)."""

    label = "stock"
    title = "stock JupyterHub"
    prefix = "bs-"

    def hub_username(self, student: str) -> str:
        return self.prefix + student

    def account(self, student: str) -> str:
        return self.prefix + student

    def prepare(self) -> None:
        self.limits.why = "LocalProcessSpawner cannot enforce limits"
        self.accounts.require_absent(self.accounts_of_students())
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-stock-"))
        # Students' homes live here: their accounts must be able to enter it, not to list it.
        os.chmod(self.workdir, 0o711)
        homes = self.workdir / "home"
        homes.mkdir(mode=0o711)
        os.chmod(homes, 0o711)
        for student in self.students:
            self.accounts.create(self.account(student), homes / self.account(student))
        self.port = hub_port()
        (self.workdir / "jupyterhub_config.py").write_text(
            STOCK_CONFIG.format(
                port=self.port,
                hub_port=self.port + 1,
                proxy_api_port=self.port + 2,
                proxy=str(PROXY),
                workdir=self.workdir,
                password=self.password,
                singleuser=str(VENV_BIN / "jupyterhub-singleuser"),
            )
        )

    def command(self) -> list[str]:
        return [str(VENV_BIN / "jupyterhub"), "-f", str(self.workdir / "jupyterhub_config.py")]

    def is_ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/hub/api", timeout=2).status_code == 200
        except requests.RequestException:
            return False


HUBS: dict[str, type[Hub]] = {
    CampusHub.label: CampusHub,
    WarmedCampusHub.label: WarmedCampusHub,
    StockJupyterHub.label: StockJupyterHub,
}


def missing_requirements() -> str | None:
    """What keeps both hubs from running here, as a sentence; None when nothing does."""
    for executable in ("campushub", "jupyterhub", "jupyterhub-singleuser"):
        if not os.access(VENV_BIN / executable, os.X_OK):
            return f"{executable} is not installed in the checkout's .venv. Run `make install` first."
    if not os.access(PROXY, os.X_OK):
        return "configurable-http-proxy is not installed in the checkout's node_modules. Run `make install` first."
    blocked = closed_parent(VENV_BIN / "jupyterhub-singleuser")
    if blocked:
        return (
            f"students' servers run as their own accounts and cannot enter {blocked}, which holds the checkout. "
            "Put the checkout where every account may enter (such as /opt/campushub), as the README says."
        )
    for tool in ("useradd", "userdel"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH; the benchmark creates the students' system accounts with it."
    return None
