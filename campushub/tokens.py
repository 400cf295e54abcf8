"""`campushub token`: an API token for a user, made the way `jupyterhub token` makes one.

JupyterHub's own command cannot limit scopes; this one initialises the hub's
database, roles and users from the same campus.yaml and asks the ORM for a
token with the scopes given.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jupyterhub import orm, roles
from jupyterhub.app import JupyterHub
from jupyterhub.scopes import ScopeNotFound
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from traitlets.config import Config

from campushub.config.loader import load_config
from campushub.errors import UserError
from campushub.hub.apply import apply_settings
from campushub.identity.accounts import AccountStore
from campushub.identity.admins import admin_verdicts
from campushub.migrations.schema import ensure_current


def new_token(config_path: Path, username: str, scopes: list[str] | None, note: str) -> str:
    config = Config()
    apply_settings(config, config_path)
    hub = JupyterHub(config=config)
    # CampusHub's own word on a database of another release (`campushub upgrade`), before JupyterHub's.
    engine = create_engine(hub.db_url, poolclass=NullPool)
    try:
        ensure_current(engine)
    finally:
        engine.dispose()
    hub.init_db()

    def init_roles_and_users() -> None:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(hub.init_role_creation())
        loop.run_until_complete(hub.init_users())
        loop.close()

    # init_users is async and must not share the caller's event loop, as in `jupyterhub token`.
    ThreadPoolExecutor(1).submit(init_roles_and_users).result()
    user = orm.User.find(hub.db, username)
    if user is None:
        store = AccountStore(hub.db_url)
        if store.get(username) is None:
            raise UserError(f"no user {username!r}; `campushub users list` shows the accounts.")
        # A built-in account that has not signed in yet: an admin if campus.yaml's `admins` lets it be.
        campus = load_config(config_path).config
        granted, _ = admin_verdicts(campus.admin_entries, campus.sign_in.chosen_name_methods, store.owner)
        user = orm.User(name=username, admin=username in granted)
        hub.db.add(user)
        hub.db.commit()
        roles.assign_default_roles(hub.db, entity=user)
        hub.db.commit()
    try:
        token = user.new_api_token(note=note, scopes=scopes)
    except (ValueError, ScopeNotFound) as exc:
        raise UserError(f"--scopes: {exc}. See JupyterHub's list of scopes, e.g. `read:users`.") from None
    hub.db.commit()
    return token
