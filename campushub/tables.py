"""CampusHub's own tables in the hub database: one declarative base for every module that keeps rows there.

Each such module (built-in accounts, the library) declares its models on `Base`; `metadata()` imports them
all, so that the migrations and their tests compare against every table, not only those of the modules a
process happened to import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    pass


def utc_now() -> datetime:
    """Now, as the hub database keeps times: naive UTC, as JupyterHub's own tables do."""
    return datetime.now(UTC).replace(tzinfo=None)


def metadata() -> MetaData:
    """Every CampusHub table's definition."""
    import campushub.identity.accounts
    import campushub.identity.lti_store
    import campushub.identity.saml_store
    import campushub.library.tables  # noqa: F401

    return Base.metadata


def open_engine(db_url: str) -> Engine:
    """An engine on the hub database, once its tables are known to be this release's.

    The tables come from CampusHub's migrations (campushub/migrations), never from create_all: a database of
    another release is refused here rather than read or written in a shape this code does not know.
    """
    from campushub.migrations.schema import ensure_current

    connect_args = {"check_same_thread": False} if db_url.startswith("sqlite") else {}
    engine = create_engine(db_url, connect_args=connect_args)
    try:
        ensure_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


class Store:
    """A module's rows in the hub database: one engine, and a session per unit of work committed as a whole."""

    def __init__(self, db_url: str) -> None:
        self._engine = open_engine(db_url)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def dispose(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session
