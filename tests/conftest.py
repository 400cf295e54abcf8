"""Fixtures: one per real component.

- `campus`: a campus.yaml written by the real `campushub init`, in a temporary directory.
- `hub`: the real `campushub up` (JupyterHub + configurable-http-proxy + idle culler) on loopback.
- `browser` (tests/browser): Debian chromium driven by Playwright.

System accounts made for test users carry a prefix of their own per test
session (`t` + 4 hex digits + `-`) and are removed when the session ends.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ruamel.yaml import YAML

CHECKOUT = Path(__file__).resolve().parents[1]
CAMPUSHUB = [sys.executable, "-m", "campushub"]
TEST_USER_PREFIX = f"t{secrets.token_hex(2)}-"
ADMIN_PASSWORD = "admin-password-1"
ARTIFACTS = CHECKOUT / "test-artifacts"


def free_port_block(size: int = 3) -> int:
    """A port p with p..p+size-1 all free on 127.0.0.1 (the hub uses the two after the public one)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size > 65535:
            continue
        try:
            for offset in range(size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports found")


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


@pytest.fixture
def campus(tmp_path: Path) -> Campus:
    """A fresh campus made by `campushub init`, on free loopback ports."""
    directory = tmp_path / "campus"
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

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
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


@pytest.fixture
def hub_factory(campus: Campus) -> Iterator[Callable[..., RunningHub]]:
    """Start the campus's hub (after the test has adjusted campus.yaml); stopped after the test."""
    started: list[RunningHub] = []

    def start(*args: str, **kwargs) -> RunningHub:
        hub = start_hub(campus, *args, **kwargs)
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def hub(hub_factory: Callable[..., RunningHub]) -> RunningHub:
    """A running hub on the default test campus."""
    return hub_factory()


@pytest.fixture(scope="session", autouse=True)
def remove_test_system_accounts() -> Iterator[None]:
    """Test users' system accounts (TEST_USER_PREFIX*) are this session's own: remove them afterwards."""
    yield
    if os.geteuid() != 0:
        return
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(TEST_USER_PREFIX):
            subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False)
            subprocess.run(["userdel", "--remove", entry.pw_name], check=False, capture_output=True)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@dataclass
class PostgresServer:
    port: int
    directory: Path

    def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = f"campus_{secrets.token_hex(4)}"
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                f"{POSTGRES_BIN}/createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                name,
            ],
            check=True,
            capture_output=True,
        )
        return f"postgresql://postgres:not-a-real-secret@127.0.0.1:{self.port}/{name}"


POSTGRES_BIN = "/usr/lib/postgresql/15/bin"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 (Debian's), on a loopback port, for the test session."""
    # Not under pytest's tmp_path: its parents are closed to the postgres account.
    directory = Path(tempfile.mkdtemp(prefix="campushub-postgres-"))
    shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_postgres,
            f"{POSTGRES_BIN}/initdb",
            "--auth=md5",
            "--username=postgres",
            f"--pwfile={_pwfile(directory)}",
            "-D",
            str(data),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port_block(1)
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [
            *as_postgres,
            f"{POSTGRES_BIN}/pg_ctl",
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(directory / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    os.environ["PGPASSWORD"] = "not-a-real-secret"
    try:
        yield PostgresServer(port, directory)
    finally:
        subprocess.run([*as_postgres, f"{POSTGRES_BIN}/pg_ctl", "-D", str(data), "-m", "fast", "stop"], check=False)
        shutil.rmtree(directory, ignore_errors=True)


def _pwfile(directory: Path) -> Path:
    path = directory / "pwfile"
    path.write_text("not-a-real-secret\n")
    os.chmod(path, 0o644)
    return path


# OpenLDAP for the LDAP / Active Directory sign-in tests. This section was appended to the file,
# so its import sits here with it rather than at the top.
from tests.components.slapd import SLAPD, Directory, running_directory  # noqa: E402


@pytest.fixture(scope="session")
def slapd() -> Iterator[Directory]:
    """A real OpenLDAP (Debian's slapd) on loopback, seeded as tests/components/slapd.py says; stopped afterwards."""
    if not SLAPD.exists():
        pytest.fail(f"{SLAPD} is missing: `make test` installs slapd", pytrace=False)
    with running_directory() as directory:
        yield directory


# A real OpenID Provider (oidc-provider on node) for the OpenID Connect sign-in tests. This section was
# appended to the file, so its imports sit here with it rather than at the top.
from collections.abc import Sequence  # noqa: E402
from contextlib import ExitStack  # noqa: E402

from tests.components.oidc import (  # noqa: E402
    ClientSpec,
    Provider,
    StartProvider,
    UserSpec,
    missing_node_tools,
    running_provider,
)


@pytest.fixture
def oidc_provider() -> Iterator[StartProvider]:
    """`start(clients, users)` runs a fresh provider per call; all of them are stopped when the test ends.

    A factory, not one shared provider, because each test wants its own clients (redirect URIs name
    the hub's port) and users. Missing node/npm is a broken test machine, so it fails rather than skips.
    """
    missing = missing_node_tools()
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found on PATH: the OpenID Connect tests run oidc-provider on Node.js "
            "(install nodejs and npm)",
            pytrace=False,
        )
    with ExitStack() as providers:

        def start(clients: Sequence[ClientSpec], users: Sequence[UserSpec], **options: object) -> Provider:
            return providers.enter_context(running_provider(clients, users, **options))

        yield start


from tests.components.github import GitHub, running_github  # noqa: E402


@pytest.fixture
def github_standin() -> Iterator[Callable[[Sequence[dict], Sequence[dict]], GitHub]]:
    """`start(clients, users)` serves GitHub's OAuth app flow and API on loopback (no real GitHub is reachable)."""
    with ExitStack() as servers:

        def start(clients: Sequence[dict], users: Sequence[dict]) -> GitHub:
            return servers.enter_context(running_github(clients, users))

        yield start
