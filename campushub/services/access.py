"""How `campushub` commands act through the running hub: as one of its services, with a token for minutes.

No service keeps a standing token on disk. A command beside the hub (removal, warming by hand) asks
JupyterHub's database for a new token of the service whose role fits the job; it expires on its
own, and carries exactly that role's scopes.
"""

from __future__ import annotations

from jupyterhub import orm

from campushub.config.schema import CampusConfig
from campushub.hub.layout import internal_ports
from campushub.hub.records import hub_session, hub_tables_exist

TOKEN_SECONDS = 300


def hub_api_url(config: CampusConfig) -> str:
    """The hub's own API on loopback, not through the public proxy."""
    hub_port, _ = internal_ports(config)
    return f"http://127.0.0.1:{hub_port}/hub/api"


def service_token(db_url: str, service: str, note: str, expires_in: int = TOKEN_SECONDS) -> str | None:
    """A new token of `service` with its role's scopes; None when the hub has never run with that service."""
    with hub_session(db_url) as session:
        found = orm.Service.find(session, service)
        if found is None:
            return None
        token = found.new_api_token(expires_in=expires_in, note=note)
        session.commit()
        return token


def revoke_token(db_url: str, token: str) -> None:
    """End a token before it expires, once its command is done with it."""
    with hub_session(db_url) as session:
        found = orm.APIToken.find(session, token)
        if found is not None:
            session.delete(found)
            session.commit()


def revoke_service_tokens(db_url: str, names: list[str]) -> int:
    """Revoke every API token the named services hold; returns how many.

    JupyterHub gives a service it runs a new token at each start and never revokes the old ones (nor a
    token once configured and since dropped), so each start would leave one more valid token with the
    service's scopes. CampusHub's own services get theirs afresh at every start; none is ever needed
    across a restart.
    """
    if not names or not hub_tables_exist(db_url):
        return 0
    revoked = 0
    with hub_session(db_url) as session:
        for service in session.query(orm.Service).filter(orm.Service.name.in_(names)):
            for token in list(service.api_tokens):
                session.delete(token)
                revoked += 1
        session.commit()
    return revoked
