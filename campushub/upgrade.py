"""`campushub upgrade`: bring the hub database up to the installed CampusHub, after backing it up.

After a new CampusHub is installed, its JupyterHub may expect newer JupyterHub tables and CampusHub
itself newer `campushub_*` tables. `campushub up` refuses such a database (as JupyterHub refuses to
start unless told to upgrade), because changing it without a backup can lose a campus's accounts.
This command does it in order, with CampusHub stopped:

1. refuse while the hub runs (its pid file, or anything answering on its internal API port);
2. refuse a database a newer CampusHub has upgraded (there is no way down, only the backup);
3. back the database up: SQLite with sqlite3's backup API, PostgreSQL with pg_dump, into
   data_dir/backups/pre-upgrade-<time>/ or --backup-to;
4. upgrade JupyterHub's tables with JupyterHub's own migrations, then CampusHub's with its own
   (campushub/migrations), recording a database made by 0.1.0 at the baseline first.

It says where each side started and ended, and run again it finds everything current and changes nothing.
The backup is only the database, kept small on purpose: a restore puts it back and reinstalls the
CampusHub that made it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jupyterhub
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from campushub import __version__
from campushub.backup.database import backup_sqlite, dump_postgres
from campushub.config.schema import CampusConfig
from campushub.errors import UserError
from campushub.hub.layout import Layout, database_url, internal_ports
from campushub.migrations import schema
from campushub.migrations.hub_schema import hub_state, upgrade_hub
from campushub.migrations.schema import SchemaState
from campushub.runtime import running_pid, up_pid_file


@dataclass(frozen=True)
class Plan:
    """Where both sides of the hub database stand before anything is changed."""

    db_url: str
    hub: SchemaState
    campus: SchemaState

    @property
    def hub_needs_upgrade(self) -> bool:
        return self.hub.has_tables and not self.hub.up_to_date

    @property
    def current(self) -> bool:
        return not self.hub_needs_upgrade and self.campus.up_to_date


def hub_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def refuse_if_running(config: CampusConfig, layout: Layout) -> None:
    """An upgrade under a running hub would change tables the hub is using: stop it first."""
    up = running_pid(up_pid_file(layout), "campushub")
    pid = running_pid(layout.run_dir / "hub.pid", "jupyterhub")
    hub_port, _ = internal_ports(config)
    if up is not None:  # between two hubs of a restart, only `up` is there
        found = f"`campushub up` runs as pid {up} ({up_pid_file(layout)})"
    elif pid is not None:
        found = f"its hub runs as pid {pid} ({layout.run_dir / 'hub.pid'})"
    elif hub_answers(hub_port):
        found = f"something answers on its internal hub API port, 127.0.0.1:{hub_port}"
    else:
        return
    raise UserError(
        f"CampusHub is running: {found}. Stop it first (Ctrl-C where `campushub up` runs, or "
        "`systemctl stop campushub`), then run `campushub upgrade` again. Nothing was changed."
    )


def database_exists(db_url: str) -> bool:
    url = make_url(db_url)
    return url.get_backend_name() != "sqlite" or bool(url.database and Path(url.database).exists())


def plan(db_url: str) -> Plan:
    """Where both sides stand, read without changing anything."""
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return Plan(db_url, hub_state(connection), schema.campus_state(connection))
    except OperationalError as exc:
        raise schema.unreachable(db_url, exc) from None
    finally:
        engine.dispose()


def release_of(revision: str | None) -> str:
    """The CampusHub release whose tables a revision gives, for messages (revision files say it)."""
    if revision is None:
        return ""
    module = schema.scripts().get_revision(revision).module
    version = getattr(module, "campushub_version", None)
    return f" (CampusHub {version}'s tables)" if version else ""


def describe(state: SchemaState) -> str:
    """One line on where one side stands, before the upgrade."""
    if state.fresh:
        if state.owner == "JupyterHub":
            return "JupyterHub's tables: none yet (the first `campushub up` makes them)."
        return f"CampusHub's tables: none yet; to be made at {state.head}."
    if state.unversioned:
        if state.owner == "JupyterHub":
            return f"JupyterHub's tables: no revision recorded (before JupyterHub 0.8); to upgrade to {state.head}."
        return "CampusHub's tables: no revision recorded (made by CampusHub 0.1.0); to record as the baseline."
    if state.up_to_date:
        return f"{state.owner}'s tables: at {state.current}{tables_of(state, state.current)}, current."
    return f"{state.owner}'s tables: at {state.current}; to upgrade to {state.head}{tables_of(state, state.head)}."


def tables_of(state: SchemaState, revision: str | None) -> str:
    """Whose tables a revision gives: the CampusHub release its file names, or the installed JupyterHub's head."""
    if state.owner == "CampusHub":
        return release_of(revision)
    return f" (JupyterHub {jupyterhub.__version__}'s tables)" if revision == state.head else ""


def backup_dir(layout: Layout, backup_to: Path | None) -> Path:
    if backup_to is not None:
        return backup_to.resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return layout.data_dir / "backups" / f"pre-upgrade-{stamp}"


def backup_database(db_url: str, directory: Path) -> Path:
    """A copy of the hub database in `directory` (made private); the file it wrote."""
    url = make_url(db_url)
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise UserError(
            f"`campushub upgrade` backs up SQLite and PostgreSQL hub databases only, not {backend}. "
            "Nothing was changed."
        )
    try:
        for part in (directory.parent, directory):  # data_dir/backups and the backup: private
            part.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as exc:
        raise UserError(
            f"the backup directory {directory} cannot be made ({exc.strerror}). Nothing was changed."
        ) from None
    name = Path(url.database or "campushub.sqlite").name if backend == "sqlite" else f"{url.database}.pgdump"
    target = directory / name
    if target.exists():
        raise UserError(f"{target} exists already; choose another --backup-to. Nothing was changed.")
    # The same copies `campushub backup` makes: sqlite3's online backup API, or pg_dump's custom format.
    if backend == "sqlite":
        backup_sqlite(Path(url.database or ""), target)
    else:
        dump_postgres(db_url, target)
    return target


def write_manifest(directory: Path, backup: Path, before: Plan) -> None:
    """What the backup is of, for whoever restores it: which CampusHub and which revisions made it."""
    manifest = {
        "database": schema.where(before.db_url),
        "file": backup.name,
        "made": datetime.now(UTC).isoformat(timespec="seconds"),
        "made_by": f"campushub upgrade {__version__}",
        "revisions": {"jupyterhub": before.hub.current, "campushub": before.campus.current},
    }
    path = directory / "backup.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)


def upgrade_campus(db_url: str, state: SchemaState) -> list[str]:
    """CampusHub's tables to head, in one transaction; what was done, as lines to print."""
    done = []
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            if state.unversioned:
                schema.stamp(connection, schema.BASELINE)
                done.append(
                    f"CampusHub's tables: recorded as {schema.BASELINE}{release_of(schema.BASELINE)}, unchanged."
                )
            before = schema.campus_state(connection).current
            schema.upgrade(connection)
            after = schema.campus_state(connection).current
    finally:
        engine.dispose()
    if before is None:
        done.append(f"CampusHub's tables: made at {after}{release_of(after)}.")
    elif before != after:
        done.append(f"CampusHub's tables: upgraded from {before} to {after}{release_of(after)}.")
    return done


def run_upgrade(
    config: CampusConfig,
    layout: Layout,
    backup_to: Path | None,
    confirm: Callable[[], bool],
    echo: Callable[[str], None],
) -> None:
    """The whole command: checks, plan, backup, JupyterHub's upgrade, CampusHub's; `echo` says each step."""
    refuse_if_running(config, layout)
    db_url = database_url(config, layout)
    if not database_exists(db_url):
        echo(f"No hub database at {schema.where(db_url)} yet: nothing to upgrade (`campushub up` makes it).")
        return
    before = plan(db_url)
    for state in (before.hub, before.campus):
        if state.newer:
            raise schema.newer_refusal(state, db_url)
    echo(f"Hub database: {schema.where(db_url)}")
    echo(f"  {describe(before.hub)}")
    echo(f"  {describe(before.campus)}")
    if before.current:
        echo("Everything is current: nothing to do.")
        return
    if not confirm():
        raise UserError("not confirmed. Nothing was changed.")
    directory = backup_dir(layout, backup_to)
    backup = backup_database(db_url, directory)
    write_manifest(directory, backup, before)
    echo(f"Backed up the hub database to {backup}.")
    try:
        if before.hub_needs_upgrade:
            upgrade_hub(db_url)
            after = plan(db_url).hub.current
            echo(f"JupyterHub's tables: upgraded from {before.hub.current or 'no revision'} to {after}.")
        if not before.campus.up_to_date:
            for line in upgrade_campus(db_url, before.campus):
                echo(line)
    except Exception as exc:
        raise UserError(
            f"the upgrade failed ({type(exc).__name__}: {exc}). The database may be half upgraded: restore the "
            f"backup {backup} (see docs/operations.md, Updates), then report the error."
        ) from exc
    echo(f"Done. Keep the backup in {directory} until the upgraded CampusHub runs as it should.")
