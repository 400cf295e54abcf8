"""CampusHub's migrations: they make exactly the tables of the models, beside JupyterHub's and apart from them.

A model changed without a migration fails `test_the_migrations_make_exactly_the_models_tables`: add a
revision under campushub/migrations/versions (docs/development.md says how).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from jupyterhub import orm
from sqlalchemy import Column, MetaData, String, create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from campushub.errors import UserError
from campushub.identity.accounts import AccountStore
from campushub.migrations import schema
from campushub.migrations.hub_schema import hub_scripts
from campushub.tables import metadata

CAMPUSHUB_TABLES = {table.name for table in metadata().sorted_tables}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's empty database (SQLite, then PostgreSQL), to look at what the migrations made."""
    engine = create_engine(db_url, poolclass=NullPool)
    yield engine
    engine.dispose()


def differences(engine: Engine, metadata: MetaData) -> list:
    """What autogenerate would put in a new migration: the models against the tables in the database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": schema.VERSION_TABLE, "include_name": schema.include_name, "compare_type": True},
        )
        return compare_metadata(context, metadata)


def version(engine: Engine, table: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT version_num FROM {table}")).scalar()


def test_the_migrations_make_exactly_the_models_tables(db_url: str, engine: Engine) -> None:
    AccountStore(db_url).dispose()
    assert set(inspect(engine).get_table_names()) == CAMPUSHUB_TABLES | {schema.VERSION_TABLE}
    assert differences(engine, metadata()) == []
    assert version(engine, schema.VERSION_TABLE) == schema.head()


def test_a_model_changed_without_a_migration_is_caught(db_url: str, engine: Engine) -> None:
    AccountStore(db_url).dispose()
    changed = copy.deepcopy(metadata())
    changed.tables["campushub_accounts"].append_column(Column("email", String(254)))
    found = differences(engine, changed)
    assert [(kind, column.name) for kind, _, table, column in found if table == "campushub_accounts"] == [
        ("add_column", "email")
    ]


def test_campushub_keeps_its_revision_apart_from_jupyterhubs(db_url: str, engine: Engine) -> None:
    orm.new_session_factory(db_url)().get_bind().dispose()  # JupyterHub's tables, as at the hub's first start
    AccountStore(db_url).dispose()
    assert version(engine, "alembic_version") == hub_scripts().get_current_head()
    assert version(engine, schema.VERSION_TABLE) == schema.head()
    # JupyterHub's tables are not CampusHub's to compare (or, for autogenerate, to drop).
    assert differences(engine, metadata()) == []


def baseline_tables(engine: Engine) -> None:
    """The tables CampusHub 0.1.0 made with its models' create_all, before any revision was recorded."""
    with engine.begin() as connection:
        context = MigrationContext.configure(connection)
        with context.begin_transaction():
            # 0.1.0's models are exactly what the baseline revision makes.
            baseline = schema.scripts().get_revision(schema.BASELINE).module
            from alembic.operations import Operations

            with Operations.context(context):
                baseline.upgrade()


def test_a_database_of_campushub_0_1_0_is_refused_until_upgraded_and_then_kept(db_url: str, engine: Engine) -> None:
    baseline_tables(engine)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO campushub_config_admins (name) VALUES ('ada')"),
        )
    with pytest.raises(
        UserError,
        match=rf"at revision {schema.BASELINE}; this install needs {schema.head()}.*"
        r"`campushub upgrade`",
    ):
        AccountStore(db_url)
    assert schema.VERSION_TABLE not in inspect(engine).get_table_names(), "nothing was changed"
    with engine.begin() as connection:  # what `campushub upgrade` does after its backup
        schema.stamp(connection, schema.BASELINE)
        schema.upgrade(connection)
    store = AccountStore(db_url)
    try:
        assert store.config_admins() == {"ada"}
    finally:
        store.dispose()
    assert version(engine, schema.VERSION_TABLE) == schema.head()


def test_a_revision_from_a_newer_campushub_is_refused_and_left_as_it_is(db_url: str, engine: Engine) -> None:
    AccountStore(db_url).dispose()
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '0099_later'"))
    with pytest.raises(
        UserError, match=r"upgraded by a newer CampusHub: CampusHub's tables are at revision 0099_later"
    ):
        AccountStore(db_url)
    assert version(engine, schema.VERSION_TABLE) == "0099_later"


def test_jupyterhub_tables_behind_the_installed_jupyterhub_are_refused_with_campushub_upgrade(
    db_url: str, engine: Engine
) -> None:
    orm.new_session_factory(db_url)().get_bind().dispose()
    older = hub_scripts().get_revision(hub_scripts().get_current_head()).down_revision
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :older"), {"older": older})
    with pytest.raises(UserError, match=rf"JupyterHub's tables at revision {older}.*`campushub upgrade`"):
        AccountStore(db_url)
    assert schema.VERSION_TABLE not in inspect(engine).get_table_names()  # nothing was made meanwhile


def test_one_head_and_every_revision_names_its_release() -> None:
    scripts = list(schema.scripts().walk_revisions())
    assert scripts[-1].revision == schema.BASELINE and scripts[-1].down_revision is None
    assert schema.scripts().get_heads() == [schema.head()]
    for script in scripts:
        assert isinstance(getattr(script.module, "campushub_version", None), str), script.path
        assert script.revision == script.path.rsplit("/", 1)[-1].removesuffix(".py"), script.path
