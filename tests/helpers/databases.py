"""The two hub databases CampusHub supports, and how a test runs on both.

Unit tests of the database layer take the `db_url` fixture (tests/conftest.py), which runs each of
them once per database. Hub-level tests are slow, so only a few run on both: those marked
`@on_both_databases`, which parametrizes the `campus` fixture's `campus_database`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.engine import make_url

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DATABASES = (SQLITE, POSTGRESQL)

# The test runs twice: its campus's hub keeps its database in SQLite, then in PostgreSQL.
on_both_databases = pytest.mark.parametrize("campus_database", DATABASES, indirect=True)
# The test runs once, with its campus's hub database in PostgreSQL.
on_postgresql = pytest.mark.parametrize("campus_database", [POSTGRESQL], indirect=True)


def sqlite_url(directory: Path) -> str:
    """The URL of an SQLite hub database in `directory` (hub.sqlite)."""
    return f"sqlite:///{directory / 'hub.sqlite'}"


def stored_bytes(db_url: str) -> bytes:
    """Everything the database holds, to look for what must not be stored in clear.

    For SQLite, the file as it is on disk, free pages included. For a database server, whose files are
    its own, every value of every row of every table, as text.
    """
    url = make_url(db_url)
    if url.get_backend_name() == SQLITE:
        return Path(url.database).read_bytes()
    engine = create_engine(db_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            values = [
                str(value)
                for table in metadata.sorted_tables
                for row in connection.execute(select(table))
                for value in row
            ]
    finally:
        engine.dispose()
    return "\n".join(values).encode()
