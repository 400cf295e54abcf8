"""The hub database in a backup: copied out while the hub runs, and put back into an empty place.

SQLite is copied with SQLite's own backup API, which takes a consistent copy page by page while the
hub keeps writing (copying the file could catch it half-written). PostgreSQL is dumped with
`pg_dump` in its custom format and put back with `pg_restore`, both without owners or privileges so
that the database may belong to another role on the new machine. The password travels in
$PGPASSWORD, never on a command line, where every account on the machine could read it.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import column, create_engine, func, inspect, select, table, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from campushub.backup.files import open_private
from campushub.backup.manifest import POSTGRESQL, SQLITE
from campushub.errors import UserError

POSTGRES_INSTALL_ROOT = Path("/usr/lib/postgresql")
PG_TIMEOUT = 3600
# Tables holding people: a database with rows in any of them is a campus in use, not an empty target.
PEOPLE_TABLES = ("users", "campushub_accounts", "campushub_method_claims", "campushub_removed_names")


def database_kind(url: str) -> str:
    """SQLITE or POSTGRESQL; UserError for any other database, which `campushub backup` cannot copy."""
    try:
        backend = make_url(url).get_backend_name()
    except SQLAlchemyError:
        backend = "?"
    if backend in (SQLITE, POSTGRESQL):
        return backend
    raise UserError(
        f"database.url names a {backend!r} database; `campushub backup` and `restore` handle SQLite and "
        "PostgreSQL only. Back it up with that database's own tools."
    )


def masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def backup_sqlite(source: Path, dest: Path) -> None:
    """A consistent copy of the live database `source` into a new private file `dest`.

    The backup API retries while the hub holds a write lock, so the hub need not stop.
    """
    if not source.is_file():
        raise UserError(
            f"there is no hub database at {source}: nothing to back up. Check `data_dir` and `database.url` in "
            "campus.yaml (`campushub init` makes a new campus)."
        )
    os.close(open_private(dest))
    try:
        # closing(): sqlite3's own context manager commits but does not close.
        with (
            closing(sqlite3.connect(f"file:{quote(str(source))}?mode=ro", uri=True, timeout=30)) as live,
            closing(sqlite3.connect(dest)) as copy,
        ):
            live.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise UserError(f"the copy of {source} failed SQLite's integrity check; try again.")
    except sqlite3.Error as exc:
        raise UserError(f"the hub database {source} could not be copied ({exc}); try again.") from None


def postgres_tool(name: str) -> Path:
    """The newest `pg_dump` / `pg_restore` installed: Debian's /usr/lib/postgresql/<major>/bin first, then PATH.

    The newest, because pg_dump refuses a server newer than itself.
    """
    found = [path for path in POSTGRES_INSTALL_ROOT.glob(f"*/bin/{name}") if path.parent.parent.name.isdigit()]
    if found:
        return max(found, key=lambda path: int(path.parent.parent.name))
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    raise UserError(
        f"{name} is not installed (looked in {POSTGRES_INSTALL_ROOT}/*/bin and on PATH), and the hub database is "
        f"PostgreSQL. Install the PostgreSQL client (`apt-get install postgresql-client`), then run the command again."
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries the password."""
    parsed: URL = make_url(url)
    parameters: dict[str, str] = {}
    if parsed.host:
        parameters["host"] = parsed.host
    if parsed.port:
        parameters["port"] = str(parsed.port)
    if parsed.username:
        parameters["user"] = parsed.username
    if parsed.database:
        parameters["dbname"] = parsed.database
    for key, value in parsed.query.items():
        parameters[key] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{key}='{_quoted(value)}'" for key, value in parameters.items())
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    if parsed.password:
        environment["PGPASSWORD"] = str(parsed.password)
    return conninfo, environment


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _run_postgres_tool(command: list[str], url: str, **kwargs) -> subprocess.CompletedProcess:
    conninfo, environment = _libpq(url)
    try:
        return subprocess.run(
            [*command, f"--dbname={conninfo}"],
            env=environment,
            stderr=subprocess.PIPE,
            timeout=PG_TIMEOUT,
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"{Path(command[0]).name} took longer than {PG_TIMEOUT} s; nothing was finished.") from None


def _tool_message(result: subprocess.CompletedProcess, url: str) -> str:
    """What pg_dump or pg_restore said, without the password (were it ever to appear) and on one line."""
    text = result.stderr.decode(errors="replace").strip()
    password = make_url(url).password
    if password:
        text = text.replace(str(password), "[hidden]")
    return re.sub(r"\s+", " ", text)[:600] or f"exit status {result.returncode}"


def dump_postgres(url: str, dest: Path) -> None:
    """pg_dump's custom format of the hub database into a new private file `dest` (the hub may keep running)."""
    pg_dump = postgres_tool("pg_dump")
    with os.fdopen(open_private(dest), "wb") as out:
        result = _run_postgres_tool([str(pg_dump), "--format=custom", "--no-owner", "--no-privileges"], url, stdout=out)
    if result.returncode != 0:
        raise UserError(
            f"pg_dump could not dump the hub database {masked(url)}: {_tool_message(result, url)}. Check that "
            "PostgreSQL is running and reachable from here and that database.url is right (`campushub check` "
            "shows it), then run the command again."
        )


def restore_postgres(url: str, dump: Path) -> None:
    """Load the dump into the (empty) database of `url`, in one transaction: all of it or nothing."""
    pg_restore = postgres_tool("pg_restore")
    result = _run_postgres_tool(
        [str(pg_restore), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", str(dump)],
        url,
        stdout=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise UserError(
            f"pg_restore could not load the backup into {masked(url)}: {_tool_message(result, url)}. Nothing was "
            "loaded (it runs in one transaction); fix that, then run `campushub restore` again."
        )


@dataclass(frozen=True)
class Target:
    """What the database `campushub restore` would fill holds already."""

    exists: bool  # SQLite: the file exists; PostgreSQL: the database has tables
    people: int  # rows in the tables of people (hub users, accounts, names)


def inspect_target(url: str) -> Target:
    """Look into the target database without creating or changing anything."""
    kind = database_kind(url)
    connect_url = url
    if kind == SQLITE:
        path = sqlite_path(url)
        if not path.exists():
            return Target(False, 0)
        connect_url = f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true"
    engine = create_engine(connect_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            names = set(inspect(connection).get_table_names())
            people = sum(
                connection.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in PEOPLE_TABLES
                if name in names
            )
    except SQLAlchemyError as exc:
        raise UserError(
            f"the hub database {masked(url)} cannot be reached ({_first_line(exc)}). Check that it is running and "
            "that database.url in campus.yaml is right, then run the command again."
        ) from None
    finally:
        engine.dispose()
    return Target(bool(names) or kind == SQLITE, people)


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]


def set_aside(path: Path) -> Path:
    """Move an SQLite database (and its -wal, -shm, -journal files) out of the way; it is kept, never deleted."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        companion = Path(str(path) + suffix)
        if companion.exists():
            companion.rename(Path(str(aside) + suffix))
    return aside


def restore_sqlite(copy: Path, target: Path) -> None:
    """Put the backup's SQLite file at `target` (which must not exist: callers set an old one aside first)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".restoring")
    temporary.unlink(missing_ok=True)
    with copy.open("rb") as source, os.fdopen(open_private(temporary), "wb") as out:
        shutil.copyfileobj(source, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)


def campus_names(url: str) -> list[str]:
    """Every username the hub database knows: the hub's users and CampusHub's accounts and claims."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            names: set[str] = set()
            for name in ("users", "campushub_accounts", "campushub_method_claims"):
                if name in tables:
                    rows = connection.execute(select(table(name, column("name")).c.name))
                    names.update(row[0] for row in rows)
    except SQLAlchemyError as exc:
        raise UserError(f"the hub database {masked(url)} cannot be read ({_first_line(exc)}).") from None
    finally:
        engine.dispose()
    return sorted(names)


def forget_running_servers(url: str) -> int:
    """A restored hub starts with every server stopped: the backup may have been made while servers ran.

    The hub would otherwise look for their processes by pid on this machine, where such a pid is
    someone else's process or nothing. Returns how many servers the backup said were running.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            tables = set(inspect(connection).get_table_names())
            if not {"spawners", "servers"} <= tables:
                return 0
            spawners = table("spawners", column("server_id"), column("state"))
            servers = table("servers", column("id"))
            running = [
                row[0]
                for row in connection.execute(select(spawners.c.server_id).where(spawners.c.server_id.is_not(None)))
            ]
            connection.execute(update(spawners).values(server_id=None, state="{}"))
            if running:
                connection.execute(servers.delete().where(servers.c.id.in_(running)))
    except SQLAlchemyError as exc:
        raise UserError(f"the restored hub database {masked(url)} cannot be updated ({_first_line(exc)}).") from None
    finally:
        engine.dispose()
    return len(running)
