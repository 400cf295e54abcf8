"""Where CampusHub's tables in the hub database stand, and moving them to this release's revision.

Every command that opens the account store (and the hub, whose sign-in methods open it) goes through
`ensure_current` first, so that no CampusHub ever reads or writes tables of a shape it does not know:

- a fresh database (no `campushub_*` table yet) gets its tables from the migrations, `upgrade head`;
- a database made by CampusHub 0.1.0, before the tables were versioned (tables, no version table),
  is recorded at the baseline revision, which is exactly 0.1.0's tables: nothing else changes;
- a database behind this release is refused with a pointer to `campushub upgrade`, which backs the
  database up before it changes anything (as JupyterHub refuses to start unless told to upgrade);
- a database at a revision this CampusHub does not know was upgraded by a newer CampusHub: refused,
  with the revision and what to do, and nothing is changed.

The same holds for JupyterHub's own tables (`hub_schema.py`), checked first.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError

from campushub import __version__
from campushub.errors import UserError

MIGRATIONS_DIR = Path(__file__).parent
VERSION_TABLE = "campushub_alembic_version"
TABLE_PREFIX = "campushub_"
# The revision that describes CampusHub 0.1.0's tables, the last release without a version table.
BASELINE = "0001_baseline"


@dataclass(frozen=True)
class SchemaState:
    """Where one side's tables (CampusHub's or JupyterHub's) in the hub database stand."""

    owner: str  # "CampusHub" or "JupyterHub", for messages
    current: str | None  # the revision recorded in the database; None when none is
    head: str  # the revision this install's code expects
    known: bool  # whether this install's code knows `current`
    has_tables: bool  # whether any of this side's tables exist

    @property
    def fresh(self) -> bool:
        """Nothing of this side in the database yet: the tables are made from scratch."""
        return not self.has_tables and self.current is None

    @property
    def unversioned(self) -> bool:
        """Tables made before their revisions were recorded."""
        return self.has_tables and self.current is None

    @property
    def newer(self) -> bool:
        """A revision recorded by a newer release, which this code cannot read or move."""
        return self.current is not None and not self.known

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


@functools.cache
def scripts() -> ScriptDirectory:
    """CampusHub's revisions (read once per process: every store open consults them)."""
    return ScriptDirectory(str(MIGRATIONS_DIR))


def head() -> str:
    found = scripts().get_heads()
    if len(found) != 1:
        raise RuntimeError(f"CampusHub's migrations must have one head, not {found}: merge them.")
    return found[0]


def known_revisions(directory: ScriptDirectory) -> set[str]:
    return {script.revision for script in directory.walk_revisions()}


def alembic_config(connection: Connection) -> Config:
    """The alembic configuration of CampusHub's migrations, built in code: no alembic.ini is installed or read.

    env.py runs the migrations on `connection`, inside the caller's transaction.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def campus_tables(connection: Connection) -> set[str]:
    """CampusHub's own tables in the database (its version table aside)."""
    names = set(inspect(connection).get_table_names())
    return {name for name in names if name.startswith(TABLE_PREFIX) and name != VERSION_TABLE}


def campus_state(connection: Connection) -> SchemaState:
    current = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()
    return SchemaState(
        owner="CampusHub",
        current=current,
        head=head(),
        known=current is None or current in known_revisions(scripts()),
        has_tables=bool(campus_tables(connection)),
    )


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Autogenerate compares CampusHub's tables only: JupyterHub's, in the same database, are not ours."""
    return type_ != "table" or bool(name and name.startswith(TABLE_PREFIX))


def where(db_url: str) -> str:
    """The database for a message: the SQLite file, or the URL without its password."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        return url.database or db_url
    return url.render_as_string(hide_password=True)


def newer_refusal(state: SchemaState, db_url: str) -> UserError:
    """The database was moved on by a newer release: say which revision, and the two ways back."""
    if state.owner == "JupyterHub":
        import jupyterhub

        this = f"the installed JupyterHub {jupyterhub.__version__} (with CampusHub {__version__})"
        cause = "a newer CampusHub (with the newer JupyterHub it installs)"
    else:
        this = f"this CampusHub {__version__}"
        cause = "a newer CampusHub"
    return UserError(
        f"the hub database {where(db_url)} was upgraded by {cause}: {state.owner}'s tables are at revision "
        f"{state.current}, which {this} does not know (it knows up to {state.head}). Install the CampusHub that "
        "upgraded it (or a newer one), or restore the backup `campushub upgrade` made before upgrading (in the "
        "data directory's backups/pre-upgrade-*/) with this CampusHub. Nothing was changed."
    )


def behind_refusal(state: SchemaState, db_url: str) -> UserError:
    """The database is older than this install: `campushub upgrade` moves it on, after a backup."""
    return UserError(
        f"the hub database {where(db_url)} holds {state.owner}'s tables at revision {state.current}; this "
        f"install needs {state.head}. Stop CampusHub and run `campushub upgrade`: it backs the database up, "
        "then upgrades it. Nothing was changed."
    )


def unreachable(db_url: str, exc: OperationalError) -> UserError:
    """The database could not be opened at all: say which, and the driver's reason on one line."""
    reason = " ".join(str(exc.orig).split())
    return UserError(
        f"the hub database {where(db_url)} cannot be reached ({reason}). Check `database.url` in campus.yaml "
        "and that the database server runs. Nothing was changed."
    )


def stamp(connection: Connection, revision: str) -> None:
    command.stamp(alembic_config(connection), revision)


def upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection), revision)


def ensure_current(engine: Engine) -> None:
    """Refuse a database this CampusHub cannot use as it is; make or record CampusHub's tables where that is safe.

    Safe: making the tables of a fresh database, and recording the baseline revision of one made by
    CampusHub 0.1.0 while the baseline is this release's head (only the version table is written). Anything
    else that would change the database is `campushub upgrade`'s, which backs it up first.
    """
    from campushub.migrations.hub_schema import hub_state

    db_url = engine.url.render_as_string(hide_password=False)
    try:
        connection = engine.connect()
    except OperationalError as exc:
        raise unreachable(db_url, exc) from None
    with connection, connection.begin():
        hub = hub_state(connection)
        campus = campus_state(connection)
        for state in (hub, campus):
            if state.newer:
                raise newer_refusal(state, db_url)
        if hub.current is not None and not hub.up_to_date:
            raise behind_refusal(hub, db_url)
        if campus.fresh:
            upgrade(connection)
            return
        if campus.unversioned:
            if campus.head != BASELINE:  # 0.1.0's tables, behind this release: nothing is written, not even a stamp
                raise behind_refusal(dataclasses.replace(campus, current=BASELINE), db_url)
            stamp(connection, BASELINE)
            campus = campus_state(connection)
        if not campus.up_to_date:
            raise behind_refusal(campus, db_url)
