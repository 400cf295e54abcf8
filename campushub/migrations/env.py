"""What alembic runs for CampusHub's migrations.

They always run on a connection handed over by campushub.migrations.schema (inside its transaction),
with CampusHub's own version table, so that JupyterHub's `alembic_version` beside it is never touched,
and autogenerate looks at CampusHub's tables only.
"""

from alembic import context

from campushub.migrations.schema import VERSION_TABLE, include_name
from campushub.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "CampusHub's migrations run through campushub.migrations.schema (as `campushub upgrade` does), "
        "which hands them a database connection."
    )
context.configure(
    connection=connection,
    target_metadata=metadata(),
    version_table=VERSION_TABLE,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
