"""A real PostgreSQL (Debian's `postgresql` package, which `make test-deps` installs) for the database tests.

`running_postgres()` makes a cluster with initdb in a temporary directory, starts it on a free loopback
port and, on exit, stops it and removes the directory. Run as root, the server runs as Debian's
`postgres` account (PostgreSQL refuses to run as root); otherwise as the current user.

    with running_postgres() as server:
        url = server.new_database()  # an empty database, as a SQLAlchemy URL
        ...
        server.drop_database(url)

Each database belongs to an ordinary role (`campushub`), not to the superuser, as on a campus server.
Durability is off (no fsync): a test server's data need not survive a crash of the machine, and a
database per test must be quick to make.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from bench.ports import free_port

HOST = "127.0.0.1"
INSTALL_ROOT = Path("/usr/lib/postgresql")
SERVER_ACCOUNT = "postgres"  # made by Debian's postgresql package
OWNER = "campushub"
START_TIMEOUT = 60
SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def server_bin() -> Path | None:
    """The bin directory of the newest PostgreSQL installed (/usr/lib/postgresql/<major>/bin), if any."""
    found = [path.parent for path in INSTALL_ROOT.glob("*/bin/postgres") if path.parent.parent.name.isdigit()]
    return max(found, key=lambda path: int(path.parent.name), default=None)


@dataclass
class PostgresServer:
    """A running server: where it answers, and the role whose databases the tests get."""

    port: int
    directory: Path
    password: str  # the `campushub` role's, and the superuser's
    _admin: Engine

    def url(self, database: str, user: str = OWNER) -> str:
        return f"postgresql://{user}:{self.password}@{HOST}:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database owned by `campushub`; returns its SQLAlchemy URL."""
        name = f"campus_{secrets.token_hex(6)}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" OWNER "{OWNER}"'))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Remove a database made by new_database(), closing whatever connections to it are left."""
        name = make_url(url).database
        if not re.fullmatch(r"campus_[0-9a-f]+", name or ""):
            raise ValueError(f"not a database of this server: {url!r}")
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """initdb, start on a free loopback port, yield the server; stop it and remove its files on exit."""
    bin_dir = server_bin()
    if bin_dir is None:
        raise RuntimeError(f"no PostgreSQL under {INSTALL_ROOT}: `make test-deps` installs Debian's postgresql")
    as_server = ["runuser", "-u", SERVER_ACCOUNT, "--"] if os.geteuid() == 0 else []
    # Not under pytest's tmp_path: as root, its parents are closed to the postgres account.
    directory = Path(tempfile.mkdtemp(prefix="campushub-postgres-"))
    password = secrets.token_urlsafe(16)
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        if as_server:
            entry = pwd.getpwnam(SERVER_ACCOUNT)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        password_file = directory / "password"
        password_file.write_text(password + "\n")
        os.chmod(password_file, 0o644)  # read by initdb as the server account; removed right after
        data = directory / "data"
        _run(
            [
                *as_server,
                bin_dir / "initdb",
                "--auth=scram-sha-256",
                "--username=postgres",
                f"--pwfile={password_file}",
                "--encoding=UTF8",
                "--locale=C",
                "-D",
                data,
            ]
        )
        password_file.unlink()
        port = free_port()
        options = " ".join([f"-p {port}", f"-k {directory}", *(f"-c {key}={value}" for key, value in SETTINGS.items())])
        log = directory / "server.log"
        pg_ctl = [*as_server, bin_dir / "pg_ctl", "-D", data, "-l", log, "-t", str(START_TIMEOUT), "-w"]
        _run([*pg_ctl, "-o", options, "start"], log)
        cleanup.callback(_run, [*pg_ctl, "-m", "fast", "stop"], log)
        admin = create_engine(
            f"postgresql://postgres:{password}@{HOST}:{port}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        cleanup.callback(admin.dispose)
        with admin.connect() as connection:
            connection.execute(text(f"CREATE ROLE \"{OWNER}\" LOGIN PASSWORD '{password}'"))
        yield PostgresServer(port, directory, password, admin)


def _run(command: list, log: Path | None = None) -> None:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        server_log = log.read_text(errors="replace") if log is not None and log.exists() else ""
        raise RuntimeError(
            f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout}{result.stderr}{server_log}"
        )
