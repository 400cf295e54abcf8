"""Where JupyterHub's own tables in the hub database stand, and upgrading them with JupyterHub's migrations.

JupyterHub keeps its revision in `alembic_version` and refuses to start on any other than its own
head, telling the admin to run `jupyterhub upgrade-db`. Under CampusHub that advice is wrong twice: the
command to run is `campushub upgrade`, and when the revision is one the installed JupyterHub does not
know at all (a newer CampusHub brought a newer JupyterHub), no upgrade can help. CampusHub checks
first and says which it is. Upgrading runs JupyterHub's own alembic scripts in this process, as
`jupyterhub upgrade-db` would, without needing the `alembic` executable on PATH.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from pathlib import Path

import jupyterhub
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from campushub.migrations.schema import SchemaState, known_revisions

HUB_ALEMBIC_DIR = Path(jupyterhub.__file__).parent / "alembic"
HUB_VERSION_TABLE = "alembic_version"
# A table every JupyterHub database has once the hub has started.
HUB_MARKER_TABLE = "users"


@functools.cache
def hub_scripts() -> ScriptDirectory:
    return ScriptDirectory(str(HUB_ALEMBIC_DIR))


def hub_state(connection: Connection) -> SchemaState:
    names = set(inspect(connection).get_table_names())
    current = MigrationContext.configure(connection).get_current_revision() if HUB_VERSION_TABLE in names else None
    return SchemaState(
        owner="JupyterHub",
        current=current,
        head=hub_scripts().get_current_head() or "",
        known=current is None or current in known_revisions(hub_scripts()),
        has_tables=HUB_MARKER_TABLE in names,
    )


def upgrade_hub(db_url: str) -> None:
    """JupyterHub's migrations up to the installed JupyterHub's head, as `jupyterhub upgrade-db` runs them.

    A database whose tables carry no revision (made by JupyterHub before 0.8) is first recorded at the
    revision JupyterHub itself guesses for it.
    """
    from jupyterhub import dbutil, orm

    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with contextlib.suppress(orm.DatabaseSchemaMismatch):  # behind: what we are here for
            orm.check_db_revision(engine)
    finally:
        engine.dispose()
    with tempfile.TemporaryDirectory(prefix="campushub-upgrade-") as directory:
        ini = Path(directory) / "alembic.ini"  # JupyterHub's env.py reads its logging settings from one
        dbutil.write_alembic_ini(str(ini), db_url)
        command.upgrade(Config(str(ini)), "head")
