"""What JupyterHub's own database knows about a user, for commands that run beside the hub."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from jupyterhub import orm, roles
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from campushub.errors import UserError
from campushub.identity.accounts import AccountStore


@contextmanager
def hub_session(db_url: str) -> Iterator[Session]:
    """A session on JupyterHub's database for a command beside the hub; its engine is disposed with it."""
    session = orm.new_session_factory(db_url)()
    try:
        yield session
    finally:
        session.close()
        session.get_bind().dispose()


def hub_tables_exist(db_url: str) -> bool:
    """Whether JupyterHub has made its tables yet (it has not before the first `campushub up`)."""
    engine = create_engine(db_url)
    try:
        return "users" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def hub_user_exists(db_url: str, name: str) -> bool:
    engine = create_engine(db_url)
    try:
        if "users" not in inspect(engine).get_table_names():
            return False
        with engine.connect() as conn:
            return conn.execute(select(orm.User.id).where(orm.User.name == name)).first() is not None
    finally:
        engine.dispose()


def forget_hub_user(db_url: str, name: str) -> None:
    """Delete the hub's record of `name` (tokens, sessions, server entries); files are not touched.

    Refuses while a server of theirs runs, since the hub holds its process.
    """
    with hub_session(db_url) as session:
        user = orm.User.find(session, name)
        if user is None:
            return
        if any(spawner.server is not None for spawner in user._orm_spawners):
            raise UserError(
                f"CampusHub is not running, but its database says {name!r} has a server (it did not stop cleanly). "
                "Start CampusHub (`campushub up`), then run the same command again."
            )
        session.delete(user)
        session.commit()


def sync_admins(db_url: str, store: AccountStore, granted: set[str], refused: set[str]) -> list[str]:
    """Make the hub's admin flags follow campus.yaml at each start; returns what changed, for the log.

    JupyterHub only ever grants admin from its config, so a name taken off `admins` would stay admin.
    CampusHub remembers which names it made admin because they were listed: those no longer listed, and
    listed names now held by a method the entry does not allow (`refused`), lose admin here. Admin rights
    given on the admin page to names never listed are left alone.
    """
    if not hub_tables_exist(db_url):
        store.set_config_admins(set(granted))
        return []  # first start: nobody signed in yet; listed names get admin at sign-in
    changes = []
    with hub_session(db_url) as session:
        revoke = (store.config_admins() - granted) | refused
        for user in session.query(orm.User).filter(orm.User.name.in_(revoke | granted)):
            admin = user.name in granted and user.name not in refused
            if user.admin != admin:
                user.admin = admin
                roles.assign_default_roles(session, entity=user)
                changes.append(f"{user.name}: admin {'granted' if admin else 'revoked'} (campus.yaml `admins`)")
        session.commit()
    store.set_config_admins(set(granted))
    return changes
