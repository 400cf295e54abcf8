"""What JupyterHub's own database knows about a user, for commands that run beside the hub."""

from __future__ import annotations

from jupyterhub import orm

from campushub.errors import UserError


def forget_hub_user(db_url: str, name: str) -> None:
    """Delete the hub's record of `name` (tokens, sessions, server entries); files are not touched.

    Refuses while a server of theirs runs, since the hub holds its process.
    """
    session = orm.new_session_factory(db_url)()
    try:
        user = orm.User.find(session, name)
        if user is None:
            return
        if any(spawner.server is not None for spawner in user._orm_spawners):
            raise UserError(
                f"{name!r} has a running server. Stop it first (admin page /hub/admin, or wait for the "
                "idle culler), then remove the account."
            )
        session.delete(user)
        session.commit()
    finally:
        session.close()
        session.get_bind().dispose()
